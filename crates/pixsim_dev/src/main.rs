//! Runs the loopback dev backend on its own, for poking it with curl:
//!
//! ```text
//! cargo run -p pixsim_dev -- --port 8787
//! cargo run -p pixsim_dev -- --latency hosted --latency-scale 0.1 --max-running-jobs 8
//! ```

use argh::FromArgs;
use bevy_asset_provider::MediaKind;
use pixsim_dev::{DEV_EMAIL, DEV_PASSWORD, DevBackend, LatencyProfile};

/// A loopback server of the PixSim7 generation API, with two pre-made backgrounds.
#[derive(FromArgs, Debug, PartialEq)]
struct Options {
    /// the port on 127.0.0.1 (default 8787; 0 picks a free port)
    #[argh(option, default = "8787")]
    port: u16,
    /// job times per media kind as on a hosted service: `hosted` (pictures 8 s / 20 s, video
    /// 60 s / 150 s, sound 3 s / 6 s, p50 / p95), or `hosted:SCALE` to scale them
    #[argh(option)]
    latency: Option<LatencyProfile>,
    /// multiplies the --latency times (0.1: ten times faster)
    #[argh(option)]
    latency_scale: Option<f64>,
    /// at most this many jobs processing at once; the others wait pending (default no limit)
    #[argh(option)]
    max_running_jobs: Option<usize>,
}

fn main() {
    let options: Options = argh::from_env();
    let port = options.port;
    let backend = match builder(&options).and_then(|builder| {
        builder
            .spawn()
            .map_err(|error| format!("could not listen on 127.0.0.1:{port}: {error}"))
    }) {
        Ok(backend) => backend,
        Err(error) => {
            eprintln!("{error}");
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

/// The backend the command line asks for.
fn builder(options: &Options) -> Result<pixsim_dev::DevBackendBuilder, String> {
    let mut builder = DevBackend::builder()
        .port(options.port)
        .premade_asset(MediaKind::Image, ["scene:harbor", "role:bg"])
        .premade_asset(MediaKind::Image, ["loc:cliffs", "role:bg"]);
    match (options.latency, options.latency_scale) {
        (None, Some(_)) => return Err("--latency-scale scales a --latency profile".into()),
        (Some(_), Some(scale)) if !(scale.is_finite() && scale > 0.0) => {
            return Err(format!("--latency-scale {scale} is not a positive number"));
        }
        (Some(profile), scale) => {
            builder = builder.latency_profile(profile.scaled(scale.unwrap_or(1.0)));
        }
        (None, None) => {}
    }
    if let Some(jobs) = options.max_running_jobs {
        builder = builder.max_running_jobs(jobs);
    }
    Ok(builder)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, argh::EarlyExit> {
        Options::from_args(&["pixsim_dev"], args)
    }

    #[test]
    fn the_port_defaults_to_8787_and_can_be_set() {
        assert_eq!(parse(&[]).unwrap().port, 8787);
        assert_eq!(parse(&["--port", "0"]).unwrap().port, 0);
        assert!(parse(&["--port"]).is_err());
        assert!(parse(&["--port", "eighty"]).is_err());
        assert!(parse(&["--verbose"]).is_err());
    }

    #[test]
    fn latency_and_the_job_limit_are_read_and_checked() {
        let options = parse(&["--latency", "hosted", "--latency-scale", "0.1"]).unwrap();
        assert_eq!(options.latency, Some(LatencyProfile::hosted()));
        assert_eq!(options.latency_scale, Some(0.1));
        assert!(builder(&options).is_ok());
        let options = parse(&["--latency", "hosted:0.5", "--max-running-jobs", "8"]).unwrap();
        assert_eq!(options.latency, Some(LatencyProfile::hosted().scaled(0.5)));
        assert_eq!(options.max_running_jobs, Some(8));
        assert!(parse(&["--latency", "instant"]).is_err());
        assert!(parse(&["--max-running-jobs", "many"]).is_err());
        let scale_alone = builder(&parse(&["--latency-scale", "0.1"]).unwrap()).unwrap_err();
        assert!(scale_alone.contains("--latency"), "{scale_alone}");
        let negative = parse(&["--latency", "hosted", "--latency-scale", "-1"]).unwrap();
        assert!(builder(&negative).unwrap_err().contains("-1"));
    }
}
