//! Hostile and broken packages through the real server: each install is refused with an error
//! that says what is wrong, and nothing on disk or in the registry changes.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::harness::packages::{
    plugin_command, printed, scripted_package, tar_gz, PackageServer, Route,
};
use crate::harness::{sqlite_store, temp_dir, TestHost, FAST_LEASES};

/// Every file under `root`, with its size, sorted.
fn snapshot(root: &Path) -> Vec<(PathBuf, u64)> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let meta = std::fs::symlink_metadata(entry.path()).unwrap();
            if meta.is_dir() {
                pending.push(entry.path());
            }
            found.push((entry.path(), if meta.is_file() { meta.len() } else { 0 }));
        }
    }
    found.sort();
    found
}

fn header(name: &str, kind: tar::EntryType, size: u64, link: Option<&str>) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    if let Some(link) = link {
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_cksum();
    header
}

/// A `.tar.gz` of a good package plus one more raw entry.
fn with_entry(package: &Path, name: &str, kind: tar::EntryType, link: Option<&str>) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(encoder);
    for file in ["plugin.toml", "main.py"] {
        builder
            .append_path_with_name(package.join(file), file)
            .unwrap();
    }
    let data: &[u8] = if kind == tar::EntryType::Regular {
        b"evil"
    } else {
        b""
    };
    builder
        .append(&header(name, kind, data.len() as u64, link), data)
        .unwrap();
    builder.into_inner().unwrap().finish().unwrap()
}

fn zip_slip(package: &Path) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for file in ["plugin.toml", "main.py"] {
        writer.start_file(file, options).unwrap();
        writer
            .write_all(&std::fs::read(package.join(file)).unwrap())
            .unwrap();
    }
    writer
        .start_file("../../plugboard-zip-slip", options)
        .unwrap();
    writer.write_all(b"evil").unwrap();
    writer.finish().unwrap().into_inner()
}

fn bomb() -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut builder = tar::Builder::new(encoder);
    let size = 64 * 1024 * 1024;
    builder
        .append(
            &header("zeros", tar::EntryType::Regular, size, None),
            std::io::Read::take(std::io::repeat(0), size),
        )
        .unwrap();
    builder.into_inner().unwrap().finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_packages_are_refused_and_change_nothing() {
    let data = temp_dir();
    let work = temp_dir();
    let server = PackageServer::start().await;
    let good = scripted_package(work.path(), "1.0.0", "ok");
    let good_archive = tar_gz(&good);
    let host = TestHost::start(
        data.path(),
        &[FAST_LEASES, &["--package-stall-timeout-ms", "1000"]].concat(),
    );
    let store = sqlite_store(data.path()).await;
    // Something installed already, so "nothing changed" covers a live registry too.
    let installed = server.serve("good.tar.gz", Route::Whole(good_archive.clone()));
    let output = plugin_command(data.path(), &["install", &installed]);
    assert!(output.status.success(), "{}", printed(&output));
    let row_before = store.plugin_get("scripted").await.unwrap();

    let no_manifest = work.path().join("no-manifest");
    std::fs::create_dir_all(&no_manifest).unwrap();
    std::fs::write(no_manifest.join("main.py"), "pass\n").unwrap();
    let wrong_type = scripted_package(work.path(), "2.0.0", "ok");
    std::fs::write(
        wrong_type.join("plugin.toml"),
        "id = \"other\"\nname = \"Other\"\nversion = \"2.0.0\"\nprotocol = 1\ncommand = [\"python3\", \"main.py\"]\n\ninstances = \"two\"\n",
    )
    .unwrap();
    let bad_id = scripted_package(work.path(), "3.0.0", "ok");
    std::fs::write(
        bad_id.join("plugin.toml"),
        "id = \"../evil\"\nname = \"Evil\"\nversion = \"3.0.0\"\nprotocol = 1\ncommand = [\"python3\", \"main.py\"]\n",
    )
    .unwrap();
    let truncated = &good_archive[..good_archive.len() / 2];
    let cases: Vec<(&str, Route, &str)> = vec![
        (
            "tar-dotdot",
            Route::Whole(with_entry(
                &good,
                "../../plugboard-evil",
                tar::EntryType::Regular,
                None,
            )),
            "climbs out with `..`",
        ),
        (
            "tar-absolute",
            Route::Whole(with_entry(
                &good,
                "/tmp/plugboard-evil",
                tar::EntryType::Regular,
                None,
            )),
            "absolute path",
        ),
        (
            "symlink-out",
            Route::Whole(with_entry(
                &good,
                "escape",
                tar::EntryType::Symlink,
                Some("../../../../etc"),
            )),
            "points outside the package",
        ),
        (
            "hardlink",
            Route::Whole(with_entry(
                &good,
                "hard",
                tar::EntryType::Link,
                Some("/etc/passwd"),
            )),
            "hard link",
        ),
        (
            "zip-slip",
            Route::Whole(zip_slip(&good)),
            "climbs out with `..`",
        ),
        ("bomb", Route::Whole(bomb()), "decompression bomb"),
        (
            "ten-gigabytes",
            Route::Claims(10 * 1024 * 1024 * 1024),
            "over the package limit",
        ),
        ("stall", Route::Stall(good_archive.clone()), "stalled"),
        (
            "truncated",
            Route::Whole(truncated.to_vec()),
            "damaged or truncated",
        ),
        (
            "no-manifest",
            Route::Whole(tar_gz(&no_manifest)),
            "no plugin.toml",
        ),
        ("wrong-type", Route::Whole(tar_gz(&wrong_type)), "line 7"),
        (
            "bad-id",
            Route::Whole(tar_gz(&bad_id)),
            "not a valid plugin id",
        ),
        (
            "html",
            Route::Whole(b"<html>moved</html>".to_vec()),
            "not a .tar.gz",
        ),
    ];
    let before = snapshot(data.path());
    for (name, route, expected) in cases {
        let url = server.serve(name, route);
        let output = plugin_command(data.path(), &["install", &url]);
        let text = printed(&output);
        assert!(!output.status.success(), "{name} was accepted:\n{text}");
        assert!(
            text.contains(expected),
            "{name} should say `{expected}`:\n{text}"
        );
        let now = snapshot(data.path());
        let changed: Vec<_> = now
            .iter()
            .filter(|entry| !before.contains(entry))
            .filter(|(path, _)| {
                // The database and its WAL grow with every job; plugin processes write nothing.
                !path.to_string_lossy().contains("plugboard.db")
            })
            .collect();
        assert!(changed.is_empty(), "{name} left {changed:?}");
        assert!(!Path::new("/tmp/plugboard-evil").exists());
        assert!(!work.path().join("plugboard-zip-slip").exists());
    }
    assert_eq!(store.plugin_get("scripted").await.unwrap(), row_before);
    assert_eq!(store.plugin_list().await.unwrap().len(), 1);
    store.close().await;
    host.terminate();
}
