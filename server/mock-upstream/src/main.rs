//! `ditto-mock-upstream --listen 127.0.0.1:9000`: the mock as a process, for
//! benchmarks and cross-process tests. Configure it over `/__mock/config`.

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:9000".to_owned();
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--listen", Some(value)) => listen = value,
            _ => {
                eprintln!("usage: ditto-mock-upstream [--listen ADDR]");
                return std::process::ExitCode::from(2);
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let listener = match tokio::net::TcpListener::bind(&listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("cannot listen on {listen}: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        println!(
            "mock upstream on http://{}/v1",
            listener.local_addr().expect("addr")
        );
        match axum::serve(listener, ditto_mock_upstream::router_for_binary()).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                std::process::ExitCode::FAILURE
            }
        }
    })
}
