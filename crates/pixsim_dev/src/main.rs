//! Runs the loopback dev backend on its own, for poking it with curl:
//!
//! ```text
//! cargo run -p pixsim_dev -- --port 8787
//! ```

use argh::FromArgs;
use bevy_asset_provider::MediaKind;
use pixsim_dev::{DEV_EMAIL, DEV_PASSWORD, DevBackend};

/// A loopback server of the PixSim7 generation API, with two pre-made backgrounds.
#[derive(FromArgs, Debug, PartialEq)]
struct Options {
    /// the port on 127.0.0.1 (default 8787; 0 picks a free port)
    #[argh(option, default = "8787")]
    port: u16,
}

fn main() {
    let Options { port } = argh::from_env();
    let backend = match DevBackend::builder()
        .port(port)
        .premade_asset(MediaKind::Image, ["scene:harbor", "role:bg"])
        .premade_asset(MediaKind::Image, ["loc:cliffs", "role:bg"])
        .spawn()
    {
        Ok(backend) => backend,
        Err(error) => {
            eprintln!("could not listen on 127.0.0.1:{port}: {error}");
            std::process::exit(1);
        }
    };
    let url = backend.base_url();
    println!("dev backend on {url}");
    println!(
        "login: {DEV_EMAIL} / {DEV_PASSWORD} (token: {})",
        backend.token()
    );
    println!(
        "try: curl -s -X POST {url}/api/v1/auth/login -H 'content-type: application/json' \
         -d '{{\"email\":\"{DEV_EMAIL}\",\"password\":\"{DEV_PASSWORD}\"}}'"
    );
    println!("stop with Ctrl-C");
    loop {
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, argh::EarlyExit> {
        Options::from_args(&["pixsim_dev"], args)
    }

    #[test]
    fn the_port_defaults_to_8787_and_can_be_set() {
        assert_eq!(parse(&[]).unwrap(), Options { port: 8787 });
        assert_eq!(parse(&["--port", "0"]).unwrap(), Options { port: 0 });
        assert!(parse(&["--port"]).is_err());
        assert!(parse(&["--port", "eighty"]).is_err());
        assert!(parse(&["--verbose"]).is_err());
    }
}
