//! The `terren` command line.

use std::io::Read;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use terren_contract::Role;
use terren_contract::areas::AreaLevel;
use terren_contract::users::CreateUserRequest;

use crate::app::Application;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::db::Database;
use crate::state::AppState;
use crate::{seed, telemetry};

#[derive(Parser)]
#[command(name = "terren", version, about = "Terren: street outreach, duty rotas and referrals")]
pub struct Cli {
    /// TOML configuration file (also TERREN_CONFIG); environment variables TERREN_* override it.
    #[arg(long, global = true, env = "TERREN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log one JSON object per line (same as log.format = "json").
    #[arg(long, global = true)]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the HTTP service (migrates and loads reference data first, as configured).
    Serve {
        /// Also create demo accounts and print their logins.
        #[arg(long)]
        demo: bool,
        /// Listen address, e.g. 0.0.0.0:8080 (overrides http.bind).
        #[arg(long)]
        bind: Option<String>,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Load reference data (areas, agencies, vocabularies); existing rows are kept.
    Seed {
        /// Also create the demo accounts.
        #[arg(long)]
        demo: bool,
    },
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Attach boundaries from GeoJSON files (FeatureCollection of Polygon/MultiPolygon) to areas.
    ImportAreas {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Only match areas of this level: county, municipality or admin_unit.
        #[arg(long)]
        level: Option<String>,
        /// Fail when any feature matches no area.
        #[arg(long)]
        strict: bool,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Check the audit log's hash chain.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Privacy retention jobs (the server also runs them every `retention.run_every_minutes`).
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Write a report as a file, as `GET /api/v1/reports/export` makes it for the user named
    /// with --as (their areas, small numbers hidden as for them; audited as theirs).
    Report(ReportArgs),
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create an account (e.g. the first system administrator).
    Create(CreateUserArgs),
    /// Disable the demo accounts (seed/demo) that still have the published demo password: they
    /// can no longer sign in and their sessions end. `serve` refuses to start until this is done.
    DisableDemo,
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Verify every record's hash and sequence.
    Verify,
}

#[derive(Subcommand)]
pub enum RetentionCommand {
    /// Coarsen the precise locations past the retention period and remove expired idempotency keys now.
    Run,
}

#[derive(Args)]
pub struct ReportArgs {
    /// The account whose access the report is made with, e.g. tirana.coord or ashdmf.analyst.
    #[arg(long = "as")]
    as_user: String,
    /// A year (2022), a quarter (2023-Q3), a half-year (2024-H1) or days (2023-07-01..2023-09-30).
    #[arg(long)]
    period: Option<String>,
    /// A municipality's code (AL224), a county's, or AL for the country; by default the user's.
    #[arg(long)]
    area: Option<String>,
    /// csv, xlsx, dhis2 or json.
    #[arg(long, default_value = "csv")]
    format: String,
    /// Write a frozen version (its id, from GET /api/v1/reports/versions) instead of counting now.
    #[arg(long, conflicts_with_all = ["period", "area"])]
    version: Option<uuid::Uuid>,
    /// The file to write; by default the report's own name in the current directory, `-` for
    /// standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
pub struct CreateUserArgs {
    #[arg(long)]
    username: String,
    #[arg(long)]
    display_name: String,
    /// Agency code, e.g. AL224-NJMF.
    #[arg(long)]
    agency: String,
    /// Role, repeatable: field_worker, duty_officer, coordinator, case_manager,
    /// partner_responder, agency_admin, national_viewer, system_admin.
    #[arg(long = "role", required = true)]
    roles: Vec<String>,
    #[arg(long)]
    phone: Option<String>,
    /// Read the password from standard input instead of asking for it in an argument.
    #[arg(long)]
    password_stdin: bool,
    /// The password (visible in the process list; prefer --password-stdin).
    #[arg(long, conflicts_with = "password_stdin")]
    password: Option<String>,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Command::Serve { bind: Some(bind), .. } = &cli.command {
        config.http.bind.clone_from(bind);
        config.validate()?;
    }
    if cli.log_json {
        config.log.format = crate::config::LogFormat::Json;
    }
    // Commands whose output is their result (a report to standard output, the OpenAPI document)
    // log to standard error.
    let output_is_result = matches!(&cli.command, Command::Report(_) | Command::Openapi);
    telemetry::init_to(&config.log, output_is_result);
    match cli.command {
        Command::Serve { demo, .. } => serve(config, demo).await,
        Command::Migrate => {
            let db = Database::connect(&config)?;
            let mut conn = db.get()?;
            let applied = crate::db::backend::with_migration_lock(&mut conn, |conn| conn.run_migrations())?;
            println!("{applied} migration(s) applied to {}", config.database_target()?.redacted());
            Ok(())
        }
        Command::Seed { demo } => {
            let mut seed_config = config;
            seed_config.database.seed_on_start = true;
            let state = AppState::prepare_with_system_clock(seed_config, demo)?;
            if demo {
                seed_demo_duty(&state)?;
                seed_demo_field(&state).await?;
            }
            println!("reference data is loaded ({} areas)", state.territory().len());
            Ok(())
        }
        Command::User(UserCommand::Create(args)) => create_user(config, args),
        Command::User(UserCommand::DisableDemo) => {
            let state = AppState::prepare_with_system_clock(config, false)?;
            let mut conn = state.db.get()?;
            let disabled = seed::disable_demo_accounts(&state, &mut conn)?;
            if disabled.is_empty() {
                println!("no demo account has the demo password");
            } else {
                println!("disabled {} demo account(s): {}", disabled.len(), disabled.join(", "));
            }
            Ok(())
        }
        Command::ImportAreas { files, level, strict } => import_areas(config, &files, level.as_deref(), strict),
        Command::Openapi => {
            print!("{}", crate::openapi::to_pretty_json()?);
            Ok(())
        }
        Command::Audit(AuditCommand::Verify) => {
            let db = Database::connect(&config)?;
            let mut conn = db.get()?;
            // Records a server wrote but had not sealed yet (it stopped a moment after a change)
            // are part of the log too.
            crate::audit::sealer::seal_pending(&mut conn)?;
            match crate::audit::verify_chain(&mut conn)? {
                Ok(count) => {
                    println!("audit chain intact: {count} record(s)");
                    Ok(())
                }
                Err(seq) => anyhow::bail!("audit chain broken at record {seq}"),
            }
        }
        Command::Report(args) => report(config, args),
        Command::Retention(RetentionCommand::Run) => {
            let db = Database::connect(&config)?;
            let mut conn = db.get()?;
            let now = crate::clock::truncate(chrono::Utc::now());
            let report = crate::retention::run(&mut conn, &config.retention, now)?;
            println!(
                "retention: {} location(s) older than {} days coarsened in {} batch(es); {} expired idempotency key(s) and {} change-feed entries removed",
                report.coarsened,
                config.retention.precise_location_days,
                report.batches,
                report.expired_keys,
                report.pruned_changes
            );
            Ok(())
        }
    }
}

/// How long jobs running at shutdown may finish before their leases are released to the next
/// process.
const WORKER_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

async fn serve(config: Config, demo: bool) -> anyhow::Result<()> {
    let target = config.database_target()?;
    let state = web_block(move || {
        let state = AppState::prepare_with_system_clock(config, demo)?;
        if demo {
            seed_demo_duty(&state)?;
        }
        Ok(state)
    })
    .await?;
    if demo {
        seed_demo_field(&state).await?;
    }
    if !demo {
        let guard_state = state.clone();
        let exposed = web_block(move || {
            let mut conn = guard_state.db.get()?;
            seed::demo_password_accounts(&guard_state, &mut conn)
        })
        .await?;
        if !exposed.is_empty() {
            anyhow::bail!(
                "refusing to start: the demo account(s) {} still have the published demo password. \
                 Disable them with `terren user disable-demo`, or run the demo with `terren serve --demo`",
                exposed.join(", ")
            );
        }
    }
    crate::retention::schedule(state.clone());
    crate::audit::sealer::spawn(state.clone());
    crate::db::statistics::schedule(state.clone());
    let worker = state.config.alerts.worker.then(|| crate::worker::spawn(state.clone()));
    let application = Application::build(state.clone())?;
    let url = application.url.clone();
    println!("Terren is running at {url}");
    println!("  database: {} ({})", target.redacted(), target.backend_name());
    println!("  API docs: {url}/docs/");
    println!("  contract: {url}/api/v1/openapi.json");
    if demo {
        println!("  DEMO MODE: these accounts and their password are public. Before real use, run");
        println!("  `terren user disable-demo` (a plain `terren serve` refuses to start until then).");
        println!("  demo logins (password '{}'):", seed::DEMO_PASSWORD);
        for user in seed::demo_users()? {
            let roles: Vec<&str> = user.roles.iter().map(|r| r.as_str()).collect();
            println!("    {:<16} {:<26} {}", user.username, user.agency, roles.join(", "));
        }
        println!("  notifications are dry-run: nothing leaves this machine; see an alert's timeline");
    }
    application.run_until_stopped().await?;
    if let Some(worker) = worker {
        worker.shutdown(&state, WORKER_GRACE).await;
    }
    let db = state.db.clone();
    if let Err(error) = web_block(move || {
        let mut conn = db.get()?;
        Ok(crate::audit::sealer::seal_pending(&mut conn)?)
    })
    .await
    {
        tracing::error!(error = %error, "the last audit records could not be sealed; the next start seals them");
    }
    println!("Terren stopped");
    Ok(())
}

/// The demo's rotas, escalation policies and push tokens (the accounts exist by now).
fn seed_demo_duty(state: &AppState) -> anyhow::Result<()> {
    let mut conn = state.db.get()?;
    let report = seed::demo::seed_duty(state, &mut conn)?;
    if report != seed::demo::DutyReport::default() {
        tracing::info!(?report, "demo rotas, escalation policies and push tokens loaded");
    }
    Ok(())
}

async fn seed_demo_field(state: &AppState) -> anyhow::Result<()> {
    let report = seed::field::seed_field(state).await?;
    if report != seed::field::FieldReport::default() {
        tracing::info!(?report, "demo field records loaded");
    }
    Ok(())
}

async fn web_block<T: Send + 'static>(f: impl FnOnce() -> anyhow::Result<T> + Send + 'static) -> anyhow::Result<T> {
    actix_web::rt::task::spawn_blocking(f).await.map_err(|e| anyhow::anyhow!("start-up task failed: {e}"))?
}

fn report(config: Config, args: ReportArgs) -> anyhow::Result<()> {
    use crate::reports::export::{self, Format};
    use crate::reports::{frozen, service};

    let state = AppState::prepare_with_system_clock(config, false)?;
    let index = state.territory();
    let mut conn = state.db.get()?;
    let at = crate::clock::truncate(state.clock.now());
    let (bytes, name) = crate::db::backend::write_transaction(&mut conn, |tx| {
        let user = crate::access::AuthUser::acting_as(tx.conn(), &args.as_user, "terren report")?;
        let json = args.format.trim().eq_ignore_ascii_case("json");
        let format = if json {
            Format::Csv
        } else {
            Format::parse("format", &args.format).map_err(|e| crate::http::ApiError::fields(vec![e]))?
        };
        let (report, cut_off, name) = match args.version {
            Some(id) => {
                let shown = frozen::get(
                    tx,
                    &index,
                    &user,
                    &id.to_string(),
                    at,
                    Some(if json { "json" } else { format.as_str() }),
                )?;
                let name =
                    export::filename(&shown.report, format).replacen('.', &format!("-v{}.", shown.version.version), 1);
                (shown.report, shown.version.cut_off, name)
            }
            None => {
                let period = args.period.clone().ok_or_else(|| {
                    crate::http::ApiError::fields(vec![terren_contract::problem::FieldError::new(
                        "period",
                        terren_contract::problem::FieldErrorCode::Required,
                        "name the period with --period, or a frozen version with --version",
                    )])
                })?;
                let query = terren_contract::reports::ReportQuery {
                    period,
                    area: args.area.clone(),
                    tables: None,
                    baseline: None,
                };
                let report =
                    service::export(tx, &index, &user, &query, at, if json { "json" } else { format.as_str() })?;
                let name = export::filename(&report, format);
                let cut_off = report.generated_at;
                (report, cut_off, name)
            }
        };
        if json {
            let bytes = serde_json::to_vec_pretty(&report).map_err(anyhow::Error::from)?;
            return Ok((bytes, name.replace(".csv", ".json")));
        }
        let file = export::render(tx, &report, format, cut_off, name)?;
        Ok((file.bytes, file.name))
    })
    .map_err(|e: crate::http::ApiError| {
        let fields: Vec<String> =
            e.errors.iter().map(|f| format!("{}: {} ({})", f.field, f.message, f.code.as_str())).collect();
        anyhow::anyhow!(
            "{}{}{}",
            e.code.as_str(),
            e.detail.map(|d| format!(": {d}")).unwrap_or_default(),
            if fields.is_empty() { String::new() } else { format!(" — {}", fields.join("; ")) }
        )
    })?;
    match args.out {
        Some(path) if path.as_os_str() == "-" => {
            use std::io::Write;
            std::io::stdout().write_all(&bytes)?;
        }
        path => {
            let path = path.unwrap_or_else(|| PathBuf::from(&name));
            std::fs::write(&path, &bytes)?;
            eprintln!("wrote {} ({} bytes)", path.display(), bytes.len());
        }
    }
    Ok(())
}

fn create_user(config: Config, args: CreateUserArgs) -> anyhow::Result<()> {
    let roles = args
        .roles
        .iter()
        .map(|r| Role::parse(r).ok_or_else(|| anyhow::anyhow!("unknown role {r}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let password = match (args.password, args.password_stdin) {
        (Some(password), _) => password,
        (None, true) => {
            let mut input = String::new();
            std::io::stdin().read_to_string(&mut input)?;
            input.trim_end_matches(['\n', '\r']).to_owned()
        }
        (None, false) => anyhow::bail!("give the password with --password-stdin"),
    };
    let request = CreateUserRequest {
        username: args.username,
        display_name: args.display_name,
        agency_code: args.agency,
        roles,
        phone: args.phone,
        email: None,
        password,
    };
    validator::Validate::validate(&request).map_err(|e| anyhow::anyhow!("invalid user: {e}"))?;
    let state = AppState::prepare_with_system_clock(config, false)?;
    let mut conn = state.db.get()?;
    let user = crate::accounts::service::create_user(&state, &mut conn, None, &request)
        .map_err(|e| anyhow::anyhow!("{}: {}", e.code.as_str(), e.detail.unwrap_or_default()))?;
    println!("created user {} ({}) in {}", user.username, user.id, user.agency.code);
    Ok(())
}

fn import_areas(config: Config, files: &[PathBuf], level: Option<&str>, strict: bool) -> anyhow::Result<()> {
    let level = level
        .map(|l| {
            AreaLevel::parse(l)
                .ok_or_else(|| anyhow::anyhow!("unknown level {l}: use county, municipality or admin_unit"))
        })
        .transpose()?;
    let state = AppState::prepare_with_system_clock(config, false)?;
    let mut conn = state.db.get()?;
    let mut unmatched_total = 0;
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
        let name = file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
        let report = crate::territory::import::import_geojson(&mut conn, &text, &name, level, SystemClock.now_naive())?;
        println!(
            "{name}: {} feature(s), {} matched, {} unmatched",
            report.features,
            report.matched.len(),
            report.unmatched.len()
        );
        for (label, reason) in &report.unmatched {
            println!("  unmatched: {label}: {reason}");
        }
        if !report.still_without_boundary.is_empty() {
            println!("  areas at these levels still without a boundary: {}", report.still_without_boundary.join(", "));
        }
        unmatched_total += report.unmatched.len();
    }
    if strict && unmatched_total > 0 {
        anyhow::bail!("{unmatched_total} feature(s) matched no area");
    }
    println!("running services pick up the boundaries after a restart or POST /api/v1/areas/reload");
    Ok(())
}
