//! Building the application: every capability's routes, the middleware, and the bound server.

use std::net::TcpListener;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, HttpServer, web};
use utoipa_swagger_ui::SwaggerUi;

use crate::http::{ApiError, ErrorCode, problem};
use crate::state::AppState;
use crate::{
    accounts, agencies, alerts, auth, cases, hotspots, identifications, lifeline, ops, profiles, referrals, reports,
    rota, rounds, sync, territory, vocabularies,
};

/// The whole application, as used by the server and by in-process tests.
pub fn build_app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let max_body = state.config.http.max_body_bytes;
    App::new()
        .app_data(web::Data::new(state))
        .app_data(web::PayloadConfig::new(max_body))
        .app_data(web::QueryConfig::default().error_handler(|err, _| crate::http::query::query_error(err).into()))
        .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::new(ErrorCode::NotFound).into()))
        .wrap(from_fn(crate::http::query::reject_nul))
        .wrap(from_fn(ops::middleware::record_metrics))
        .wrap(from_fn(problem::problem_details))
        .wrap(from_fn(ops::middleware::access_log))
        .configure(ops::configure)
        .service(
            web::resource("/docs").route(
                web::get()
                    .to(|| async { HttpResponse::PermanentRedirect().insert_header(("Location", "/docs/")).finish() }),
            ),
        )
        .service(SwaggerUi::new("/docs/{_:.*}").url("/api/v1/openapi.json", crate::openapi::document()))
        .service(
            web::scope("/api/v1")
                .configure(auth::routes::configure)
                .configure(accounts::routes::configure)
                .configure(territory::routes::configure)
                .configure(agencies::routes::configure)
                .configure(profiles::routes::configure)
                .configure(cases::routes::configure)
                .configure(identifications::routes::configure)
                .configure(rota::routes::configure)
                .configure(alerts::routes::configure)
                .configure(referrals::routes::configure)
                .configure(reports::routes::configure)
                .configure(reports::export_routes::configure)
                .configure(hotspots::routes::configure)
                .configure(rounds::routes::configure)
                .configure(sync::routes::configure)
                .configure(lifeline::routes::configure)
                .configure(vocabularies::configure),
        )
}

/// A bound, not yet running server.
pub struct Application {
    server: Server,
    port: u16,
    pub url: String,
}

impl Application {
    /// Binds the configured address (port 0 picks a free port) and builds the server.
    pub fn build(state: AppState) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(&state.config.http.bind)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", state.config.http.bind))?;
        let address = listener.local_addr()?;
        let url = state.config.public_url(address);
        let shutdown = state.config.http.shutdown_timeout_secs;
        let workers = state.config.http.workers;
        let app_state = state.clone();
        let header_timeout = std::time::Duration::from_millis(state.config.http.request_header_timeout_ms);
        let mut server = HttpServer::new(move || build_app(app_state.clone()))
            .shutdown_timeout(shutdown)
            .client_request_timeout(header_timeout)
            .client_disconnect_timeout(std::time::Duration::from_secs(1));
        if let Some(workers) = workers {
            server = server.workers(workers);
        }
        let server = server.listen(listener)?.run();
        Ok(Application { server, port: address.port(), url })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM, then finishes in-flight requests (graceful shutdown).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
