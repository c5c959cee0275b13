//! `plugboard plugin pack DIR [--out FOLDER]`: turns a plugin's source folder into the package
//! an install takes, with everything it needs inside, since the host fetches nothing:
//!
//! - a Rust plugin (`Cargo.toml`) is built with `cargo build --release`, and the binary its
//!   manifest's `command` names is put in the package;
//! - a Python plugin's `requirements.txt` is installed with pip into `.deps/python/` in the
//!   package (the host puts that folder on the plugin's `PYTHONPATH`); a requirement may be a
//!   path relative to DIR (`../../../sdk/python`);
//! - a Node plugin's `package.json` `dependencies` are installed with npm into `node_modules/`
//!   in the package, copied (never linked), `file:` paths relative to DIR included.
//!
//! Then the package's manifest is checked as an install checks it, the plugin is started once
//! (handshake, identity, metadata, `ping`, `shutdown`), and the `.tar.gz` is written with its
//! sha256 beside it (`NAME.tar.gz.sha256`, as `sha256sum` writes it). Dependencies are resolved
//! here, once: every node unpacks the same bytes, checked by that sha256.
//!
//! `plugin install DIR` (uploading a folder) runs the same dependency steps first when the
//! folder declares dependencies it does not hold; a Rust plugin must be packed first. Like
//! `pip install -r` and `npm install` themselves, that runs the build steps the requirements
//! name (a Python sdist's build backend): pack and install folders you trust.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{bail, Context};
use serde_json::Value;

use super::plugin::PackArgs;
use crate::plugins::check::{self, CheckOptions, Verdict};
use crate::plugins::confinement::Confinement;
use crate::plugins::package::{self, PYTHON_DEPS};

/// Folders of a source tree that never go into a package: build output, installed
/// dependencies (made again by the build), caches and version control.
const LEFT_OUT: &[&str] = &[
    "target",
    "node_modules",
    ".deps",
    "__pycache__",
    ".git",
    ".venv",
    "venv",
];

/// Files of a source tree that never go into a package: local secrets.
const SECRETS_LEFT_OUT: &[&str] = &[".env"];

pub async fn run(args: PackArgs) -> anyhow::Result<i32> {
    let source = std::path::absolute(&args.dir)
        .with_context(|| format!("resolving the path {}", args.dir.display()))?;
    let manifest = crate::plugins::read_manifest(&source)?;
    let out = std::path::absolute(args.out.as_deref().unwrap_or(Path::new(".")))
        .context("resolving the output folder")?;
    let work = tempfile::tempdir().context("a temporary folder to build the package in")?;
    let stage = work
        .path()
        .join(format!("{}-{}", manifest.id, manifest.version));
    eprintln!(
        "packing {} {} from {}",
        manifest.id,
        manifest.version,
        source.display()
    );
    build(&source, &stage, true).await?;
    package::check(&stage).map_err(|error| anyhow::anyhow!("{error}"))?;

    eprintln!("starting it once to check its handshake");
    let scratch = work.path().join("check");
    std::fs::create_dir_all(&scratch).context("a data folder for the check")?;
    {
        use std::os::unix::fs::PermissionsExt;
        for folder in [work.path(), scratch.as_path()] {
            std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o755))
                .context("opening the build folder to the plugin")?;
        }
    }
    let options = CheckOptions {
        handshake_only: true,
        ..CheckOptions::default()
    };
    let steps = check::check(&stage, &scratch, &Confinement::shared_default(), &options).await;
    let failed: Vec<String> = steps
        .iter()
        .filter(|step| step.verdict == Verdict::Failed)
        .map(|step| format!("{}: {}", step.name, step.detail))
        .collect();
    if !failed.is_empty() {
        bail!(
            "the packed plugin does not start as the host will start it; nothing was written:\n  {}\n`plugboard plugin check {}` runs every check",
            failed.join("\n  "),
            source.display()
        );
    }

    std::fs::create_dir_all(&out)
        .with_context(|| format!("creating the output folder {}", out.display()))?;
    let archive = out.join(format!("{}-{}.tar.gz", manifest.id, manifest.version));
    package::pack_folder(&stage, &archive)
        .map_err(|error| anyhow::anyhow!("writing {}: {error}", archive.display()))?;
    let sha256 = package::sha256_file(&archive).map_err(|error| anyhow::anyhow!("{error}"))?;
    let name = archive
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sums = out.join(format!("{name}.sha256"));
    std::fs::write(&sums, format!("{sha256}  {name}\n"))
        .with_context(|| format!("writing {}", sums.display()))?;
    let size = std::fs::metadata(&archive)
        .with_context(|| format!("reading {}", archive.display()))?
        .len();
    println!("{}", archive.display());
    eprintln!(
        "wrote {} ({size} bytes), sha256 {sha256}; install it with `plugboard plugin install {} --sha256 {sha256}`",
        archive.display(),
        archive.display()
    );
    Ok(0)
}

/// True when the folder declares dependencies it does not hold, which an upload must build
/// first.
pub fn needs_dependencies(source: &Path) -> bool {
    package::check_dependencies(source).is_err()
}

/// Copies `source` to `stage` without what [`LEFT_OUT`] names, then builds into it: the Rust
/// binary (when `rust`), the Python and Node dependencies.
pub async fn build(source: &Path, stage: &Path, rust: bool) -> anyhow::Result<()> {
    copy_source(source, stage)
        .with_context(|| format!("copying {} to build it", source.display()))?;
    let manifest = crate::plugins::read_manifest(source)?;
    if source.join("Cargo.toml").is_file() {
        if rust {
            build_rust(source, stage, &manifest.command[0]).await?;
        } else if !stage.join(&manifest.command[0]).is_file() {
            bail!(
                "{} is a Rust plugin: build it into a package with `plugboard plugin pack {}` and install the archive",
                source.display(),
                source.display()
            );
        }
    }
    if source.join("requirements.txt").is_file() {
        eprintln!("installing requirements.txt into {PYTHON_DEPS} (pip)");
        let target = stage.join(PYTHON_DEPS);
        let mut pip = tokio::process::Command::new("python3");
        pip.args(["-m", "pip", "install", "--quiet", "--no-compile"])
            .args(["--disable-pip-version-check", "--no-input", "--target"])
            .arg(&target)
            .args(["-r", "requirements.txt"])
            .current_dir(source);
        run_tool(pip, "python3 -m pip install -r requirements.txt").await?;
    }
    if let Some(dependencies) = node_dependencies(source)? {
        eprintln!("installing package.json's dependencies into node_modules (npm)");
        // `file:` paths are relative to the source folder: made absolute for the copy.
        let original = std::fs::read(stage.join("package.json")).context("reading package.json")?;
        let mut package: Value =
            serde_json::from_slice(&original).context("package.json is not JSON")?;
        let mut absolute = serde_json::Map::new();
        for (name, spec) in dependencies {
            let spec = match spec.as_str().and_then(|spec| spec.strip_prefix("file:")) {
                Some(path) if !Path::new(path).is_absolute() => {
                    Value::String(format!("file:{}", source.join(path).display()))
                }
                _ => spec,
            };
            absolute.insert(name, spec);
        }
        package["dependencies"] = Value::Object(absolute);
        std::fs::write(
            stage.join("package.json"),
            serde_json::to_vec_pretty(&package)?,
        )
        .context("writing package.json for the build")?;
        let mut npm = tokio::process::Command::new("npm");
        npm.args(["install", "--omit=dev", "--install-links", "--no-audit"])
            .args(["--no-fund", "--no-package-lock", "--ignore-scripts"])
            .current_dir(stage);
        let built = run_tool(npm, "npm install --omit=dev").await;
        std::fs::write(stage.join("package.json"), &original).context("restoring package.json")?;
        built?;
    }
    Ok(())
}

/// `package.json`'s `dependencies`, when it has any.
fn node_dependencies(source: &Path) -> anyhow::Result<Option<serde_json::Map<String, Value>>> {
    let path = source.join("package.json");
    if !path.is_file() {
        return Ok(None);
    }
    let package: Value = serde_json::from_slice(
        &std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("{} is not JSON", path.display()))?;
    Ok(package
        .get("dependencies")
        .and_then(Value::as_object)
        .filter(|dependencies| !dependencies.is_empty())
        .cloned())
}

/// `cargo build --release` of the plugin's crate; puts the binary `command` names in `stage`.
async fn build_rust(source: &Path, stage: &Path, command: &str) -> anyhow::Result<()> {
    let wanted = Path::new(command)
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !command.contains('/') {
        bail!("the manifest's command `{command}` is not a path in the package; write `./{command}` for the binary this crate builds");
    }
    // Inside the package only: never a path that leaves it.
    let relative = Path::new(command);
    if relative.is_absolute()
        || relative
            .components()
            .any(|part| matches!(part, std::path::Component::ParentDir))
    {
        bail!("the manifest's command `{command}` leaves the package; write a path inside it, `./{wanted}`");
    }
    eprintln!("building with cargo build --release");
    let mut cargo = tokio::process::Command::new("cargo");
    cargo
        .args([
            "build",
            "--release",
            "--message-format=json-render-diagnostics",
        ])
        .arg("--manifest-path")
        .arg(source.join("Cargo.toml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let output = cargo
        .output()
        .await
        .context("running cargo: is Rust installed?")?;
    if !output.status.success() {
        bail!(
            "cargo build --release failed ({}); see its messages above",
            output.status
        );
    }
    let built: Option<PathBuf> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter_map(|message| message["executable"].as_str().map(PathBuf::from))
        .find(|path| path.file_name().is_some_and(|name| *name == *wanted));
    let Some(built) = built else {
        bail!("cargo built no binary named `{wanted}`, which the manifest's command `{command}` names; name the binary so in Cargo.toml or change the command");
    };
    let target = stage.join(command);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::copy(&built, &target)
        .with_context(|| format!("copying {} into the package", built.display()))?;
    Ok(())
}

/// Runs a build tool, its output shown; its failure says which command failed.
async fn run_tool(mut command: tokio::process::Command, what: &str) -> anyhow::Result<()> {
    let status = command
        .stdin(Stdio::null())
        .status()
        .await
        .with_context(|| format!("running `{what}`: is it installed?"))?;
    if !status.success() {
        bail!("`{what}` failed ({status}); see its messages above");
    }
    Ok(())
}

/// Copies a source tree, links as links, without the folders of [`LEFT_OUT`] and the files of
/// [`SECRETS_LEFT_OUT`] (`.env`, `.env.local`, …).
fn copy_source(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let kind = entry.file_type()?;
        let target = to.join(&name);
        if kind.is_dir() {
            if LEFT_OUT.iter().any(|left| name == *left) {
                continue;
            }
            copy_source(&entry.path(), &target)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        } else if kind.is_file() {
            let secret = name.to_str().is_some_and(|name| {
                SECRETS_LEFT_OUT
                    .iter()
                    .any(|left| name == *left || name.starts_with(&format!("{left}.")))
            });
            if !secret {
                std::fs::copy(entry.path(), &target)?;
            }
        }
    }
    Ok(())
}
