use clap::Parser;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    match terren_api::cli::run(terren_api::cli::Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("terren: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
