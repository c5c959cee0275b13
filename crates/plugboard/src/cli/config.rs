//! `plugboard config …`: a tenant's plugin configs: set, list, show (with next fires), validate,
//! test, run now, enable, disable, delete.
//!
//! With a server named (`--url`, `PLUGBOARD_URL` or a profile) each command calls the API
//! (`config_remote.rs`); without one, it opens the store directly.

use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value};

use super::client::RemoteArgs;
use super::tenant::open_tenants;
use crate::config::SettingsArgs;
use crate::plugins::config_calls;
use crate::plugins::host::PluginHost;
use crate::plugins::supervisor::SupervisorConfig;
use crate::schedule::ScheduleSpec;
use crate::store::ConfigFilter;
use crate::tenants::{ConfigRequest, ConfigView, Tenants};

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Create or change a config; what is not given is kept
    Set(SetArgs),
    /// List configs
    List(ListArgs),
    /// Show a config (secrets hidden) and its next fire times
    Show(NameArgs),
    /// Check a config's values (or proposed ones with --values) against the plugin's schema and
    /// the plugin's own config/validate: with --url the server's running plugin answers, without
    /// a server the plugin is started here from --plugin-dir DIR
    Validate(PluginCallArgs),
    /// Run the plugin's config/test with a config's values and print its answer; with --url the
    /// server's running plugin answers, otherwise the plugin is started here from --plugin-dir
    Test(PluginCallArgs),
    /// Enqueue a manual run of a config now
    RunNow(NameArgs),
    /// Enable a config; its schedule starts from now
    Enable(NameArgs),
    /// Disable a config: no schedule fires, no events
    Disable(NameArgs),
    /// Delete a config
    Delete(NameArgs),
}

/// Which config: tenant, plugin and name.
#[derive(Debug, clap::Args)]
pub struct ConfigName {
    #[arg(long)]
    pub tenant: String,
    #[arg(long)]
    pub plugin: String,
    /// The config's name, unique per tenant and plugin
    #[arg(long, default_value = "default")]
    pub name: String,
}

#[derive(Debug, clap::Args)]
pub struct SetArgs {
    #[command(flatten)]
    pub config: ConfigName,
    /// The values as JSON, checked against the plugin's config schema
    #[arg(long, value_name = "JSON")]
    pub values: Option<String>,
    /// The schedule as JSON, e.g. {"cron": "0 */5 * * * *", "timezone": "Europe/Berlin"} or
    /// {"interval_seconds": 300}; `none` removes it
    #[arg(long, value_name = "JSON")]
    pub schedule: Option<String>,
    /// Event type patterns to subscribe to (form.submitted, form.*), comma-separated; an
    /// empty string removes them
    #[arg(long, value_name = "PATTERNS")]
    pub events: Option<String>,
    #[arg(long)]
    pub disabled: bool,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[arg(long)]
    pub tenant: Option<String>,
    #[arg(long)]
    pub plugin: Option<String>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, clap::Args)]
pub struct NameArgs {
    #[command(flatten)]
    pub config: ConfigName,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, clap::Args)]
pub struct PluginCallArgs {
    #[command(flatten)]
    pub config: ConfigName,
    /// The plugin's package folder: it is started here to answer (without --url)
    #[arg(long = "plugin-dir", value_name = "DIR")]
    pub plugin_dir: Option<std::path::PathBuf>,
    /// validate: check these values (JSON) as creating the config would, instead of the stored
    /// config's; nothing is stored
    #[arg(long, value_name = "JSON")]
    pub values: Option<String>,
    /// How long to wait for the plugin
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// With --url, the server checks the config and its running plugin answers the test
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// One line of a config listing.
pub fn print_config_line(view: &ConfigView) {
    let config = &view.config;
    let state = match (&config.invalid_reason, config.enabled) {
        (Some(_), _) => "invalid",
        (None, true) => "enabled",
        (None, false) => "disabled",
    };
    println!(
        "{:<22}  {:<16}  {:<16}  {:<16}  {:<8}  {}",
        config.id,
        config.tenant,
        config.plugin,
        config.name,
        state,
        view.next_fires.first().map_or("-", String::as_str)
    );
}

fn print_view(view: &ConfigView) -> anyhow::Result<()> {
    let config = &view.config;
    println!(
        "config {} ({} / {} / {})",
        config.id, config.tenant, config.plugin, config.name
    );
    println!("enabled:   {}", config.enabled);
    if let Some(reason) = &config.invalid_reason {
        println!("INVALID:   {reason}");
    }
    println!("values:    {}", serde_json::to_string(&config.values)?);
    match &config.schedule {
        Some(schedule) => println!("schedule:  {schedule}"),
        None => println!("schedule:  none"),
    }
    println!(
        "events:    {}",
        if config.events.is_empty() {
            "none".to_owned()
        } else {
            config.events.join(", ")
        }
    );
    if !view.next_fires.is_empty() {
        println!("next fires:");
        for fire in &view.next_fires {
            println!("  {fire}");
        }
    }
    Ok(())
}

impl ConfigCommand {
    fn remote(&self) -> &RemoteArgs {
        match self {
            ConfigCommand::Set(args) => &args.remote,
            ConfigCommand::List(args) => &args.remote,
            ConfigCommand::Validate(args) | ConfigCommand::Test(args) => &args.remote,
            ConfigCommand::Show(args)
            | ConfigCommand::RunNow(args)
            | ConfigCommand::Enable(args)
            | ConfigCommand::Disable(args)
            | ConfigCommand::Delete(args) => &args.remote,
        }
    }
}

pub async fn run(command: ConfigCommand) -> anyhow::Result<i32> {
    if let Some(client) = command.remote().client()? {
        return super::config_remote::run(&client, command).await;
    }
    match command {
        ConfigCommand::Set(args) => {
            let values = args
                .values
                .as_deref()
                .map(serde_json::from_str::<Value>)
                .transpose()
                .context("--values is not JSON")?;
            let schedule = match args.schedule.as_deref() {
                None => None,
                Some("none") => Some(None),
                Some(text) => Some(Some(ScheduleSpec::parse(text)?)),
            };
            let events = args.events.as_deref().map(|text| {
                text.split(',')
                    .map(str::trim)
                    .filter(|pattern| !pattern.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            });
            let tenants = open_tenants(&args.settings).await?;
            let view = tenants
                .set_config(ConfigRequest {
                    tenant: args.config.tenant,
                    plugin: args.config.plugin,
                    name: args.config.name,
                    values,
                    schedule,
                    events,
                    enabled: args.disabled.then_some(false),
                })
                .await;
            tenants.store().close().await;
            let view = view?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                print_view(&view)?;
            }
        }
        ConfigCommand::List(args) => {
            let tenants = open_tenants(&args.settings).await?;
            let views = tenants
                .list_configs(ConfigFilter {
                    tenant: args.tenant,
                    plugin: args.plugin,
                    limit: 0,
                })
                .await;
            tenants.store().close().await;
            let views = views?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&views)?);
            } else {
                println!(
                    "{:<22}  {:<16}  {:<16}  {:<16}  {:<8}  next fire",
                    "id", "tenant", "plugin", "name", "state"
                );
                for view in &views {
                    print_config_line(view);
                }
            }
        }
        ConfigCommand::Show(args) => {
            let tenants = open_tenants(&args.settings).await?;
            let name = &args.config;
            let view = tenants
                .show_config(&name.tenant, &name.plugin, &name.name)
                .await;
            tenants.store().close().await;
            let view = view?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                print_view(&view)?;
            }
        }
        ConfigCommand::Validate(args) => {
            let tenants = open_tenants(&args.settings).await?;
            let outcome = validate(&tenants, &args).await;
            tenants.store().close().await;
            let (problems, plugin_answer) = outcome?;
            if args.json {
                println!(
                    "{}",
                    json!({"valid": problems.is_empty(), "problems": problems, "plugin": plugin_answer})
                );
            } else if problems.is_empty() {
                println!("valid");
            } else {
                println!("invalid:");
                for problem in &problems {
                    println!("  {problem}");
                }
            }
            return Ok(if problems.is_empty() { 0 } else { 1 });
        }
        ConfigCommand::Test(args) => {
            let tenants = open_tenants(&args.settings).await?;
            let outcome = plugin_test(&tenants, &args).await;
            tenants.store().close().await;
            let answer = outcome?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
            } else {
                println!(
                    "{}: {}",
                    if answer.ok { "ok" } else { "failed" },
                    answer.message
                );
                if let Some(details) = &answer.details {
                    println!("{details}");
                }
            }
            return Ok(if answer.ok { 0 } else { 1 });
        }
        ConfigCommand::RunNow(args) => {
            let tenants = open_tenants(&args.settings).await?;
            let name = &args.config;
            let enqueued = async {
                let config = tenants
                    .config(&name.tenant, &name.plugin, &name.name)
                    .await?;
                tenants.run_now(&config.id).await
            }
            .await;
            tenants.store().close().await;
            let enqueued = enqueued?;
            if args.json {
                println!("{}", json!({"job": enqueued.id}));
            } else {
                println!("job {} enqueued", enqueued.id);
            }
        }
        ConfigCommand::Enable(args) => set_enabled(args, true).await?,
        ConfigCommand::Disable(args) => set_enabled(args, false).await?,
        ConfigCommand::Delete(args) => {
            let tenants = open_tenants(&args.settings).await?;
            let name = &args.config;
            let deleted = tenants
                .delete_config(&name.tenant, &name.plugin, &name.name)
                .await;
            tenants.store().close().await;
            deleted?;
            println!(
                "config {} of {} for {} deleted",
                name.name, name.plugin, name.tenant
            );
        }
    }
    Ok(0)
}

async fn set_enabled(args: NameArgs, enabled: bool) -> anyhow::Result<()> {
    let tenants = open_tenants(&args.settings).await?;
    let name = &args.config;
    let view = tenants
        .set_enabled(&name.tenant, &name.plugin, &name.name, enabled)
        .await;
    tenants.store().close().await;
    let view = view?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        print_view(&view)?;
    }
    Ok(())
}

/// Starts the plugin in this process (its data under a temporary folder).
fn start_plugin(
    tenants: &Tenants,
    args: &PluginCallArgs,
) -> anyhow::Result<(std::sync::Arc<PluginHost>, tempfile::TempDir)> {
    let directory = args.plugin_dir.as_ref().context(
        "pass the plugin's package folder with --plugin-dir DIR; it is started here to answer",
    )?;
    let data = tempfile::tempdir().context("a temporary data folder for the plugin")?;
    let host = PluginHost::new(
        tenants.store().clone(),
        data.path().to_path_buf(),
        SupervisorConfig::default(),
    );
    host.load(directory)
        .with_context(|| format!("loading the plugin in {}", directory.display()))?;
    Ok((host, data))
}

async fn validate(
    tenants: &Tenants,
    args: &PluginCallArgs,
) -> anyhow::Result<(Vec<String>, Option<Value>)> {
    let name = &args.config;
    if let Some(values) = &args.values {
        let values: Value = serde_json::from_str(values).context("--values is not JSON")?;
        let request = ConfigRequest {
            tenant: name.tenant.clone(),
            plugin: name.plugin.clone(),
            name: name.name.clone(),
            values: Some(values),
            ..ConfigRequest::default()
        };
        return Ok(match tenants.check_new_config(&request).await {
            Ok(()) => (Vec::new(), None),
            Err(crate::tenants::TenantError::SchemaRejects { problems, .. }) => (problems, None),
            Err(error) => return Err(error.into()),
        });
    }
    let config = tenants
        .config(&name.tenant, &name.plugin, &name.name)
        .await?;
    let mut problems = tenants.check_config(&config).await?;
    let mut plugin_answer = None;
    if problems.is_empty() && args.plugin_dir.is_some() {
        let (host, _data) = start_plugin(tenants, args)?;
        let values = tenants.open_values(&config)?;
        let answer = config_calls::validate(
            &host,
            &config.plugin,
            Some(&config.tenant),
            values,
            args.timeout,
        )
        .await;
        host.stop_all().await;
        let answer = answer?;
        problems.extend(
            answer
                .errors
                .iter()
                .map(|problem| format!("{}: {}", problem.path, problem.message)),
        );
        if !answer.valid && answer.errors.is_empty() {
            problems.push("the plugin says the values are not valid".to_owned());
        }
        plugin_answer = Some(serde_json::to_value(&answer)?);
    }
    Ok((problems, plugin_answer))
}

async fn plugin_test(
    tenants: &Tenants,
    args: &PluginCallArgs,
) -> anyhow::Result<plugboard_protocol::methods::ConfigTestResult> {
    let name = &args.config;
    let config = tenants
        .config(&name.tenant, &name.plugin, &name.name)
        .await?;
    let (host, _data) = start_plugin(tenants, args)?;
    let values = tenants.open_values(&config)?;
    let answer = config_calls::test(
        &host,
        &config.plugin,
        Some(&config.tenant),
        values,
        args.timeout,
    )
    .await;
    host.stop_all().await;
    Ok(answer?)
}
