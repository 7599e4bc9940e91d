//! The dev accounts: user 1 with the fixed dev credentials, and the extra accounts (users 2,
//! 3, ...) a test adds, with the names they log in by.

use bevy_asset_provider::backend::wire::LoginRequest;

/// The dev backend's login email.
pub const DEV_EMAIL: &str = "dev@pixsim.local";
/// The dev backend's login user name (instead of the email).
pub const DEV_USERNAME: &str = "dev";
/// The dev backend's password.
pub const DEV_PASSWORD: &str = "dev-password";
/// The token the dev backend hands out unless told otherwise.
pub const DEV_TOKEN: &str = "dev-token";

/// The email and user name of backend user `user`: the dev ones for user 1, `user{N}` for the
/// extra accounts.
pub(crate) fn account_names(user: u64) -> (String, String) {
    if user == 1 {
        (DEV_EMAIL.to_owned(), DEV_USERNAME.to_owned())
    } else {
        (format!("user{user}@pixsim.local"), format!("user{user}"))
    }
}

/// The user a login names by email or user name (whether it exists is checked with its token).
pub(crate) fn login_user(request: &LoginRequest) -> Option<u64> {
    let extra = |name: &str| {
        name.strip_prefix("user")?
            .parse::<u64>()
            .ok()
            .filter(|user| *user >= 2)
    };
    let by_email = request.email.as_deref().and_then(|email| {
        if email == DEV_EMAIL {
            Some(1)
        } else {
            extra(email.strip_suffix("@pixsim.local")?)
        }
    });
    let by_name = request.username.as_deref().and_then(|name| {
        if name == DEV_USERNAME {
            Some(1)
        } else {
            extra(name)
        }
    });
    by_email.or(by_name)
}
