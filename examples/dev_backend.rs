//! Runs the loopback dev backend on its own, for poking it with curl:
//!
//! ```text
//! cargo run --example dev_backend -- --port 8787
//! ```

fn main() {
    use bevy_asset_provider::MediaKind;
    use bevy_asset_provider::dev_backend::{DEV_EMAIL, DEV_PASSWORD, DevBackend};

    let mut port = 8787u16;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => match args.next().and_then(|p| p.parse().ok()) {
                Some(p) => port = p,
                None => {
                    eprintln!("--port needs a number (0 picks a free port)");
                    std::process::exit(2);
                }
            },
            other => {
                eprintln!("unknown argument {other:?}; usage: dev_backend [--port PORT]");
                std::process::exit(2);
            }
        }
    }
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
