//! Unpacking hostile archives, each built here byte by byte: every one is refused with an error
//! that names the entry, and nothing is written outside the destination.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{check, pack_folder, unpack, PackageError, PackageLimits};

const MANIFEST: &str = "id = \"hello\"\nname = \"Hello\"\nversion = \"1.0.0\"\nprotocol = 1\ncommand = [\"python3\", \"main.py\"]\n";

/// A temporary folder with `archive` to write and `out` to unpack into; `outside` is what an
/// escaping entry would create.
struct Scene {
    directory: tempfile::TempDir,
}

impl Scene {
    fn new() -> Scene {
        Scene {
            directory: tempfile::tempdir().expect("a temporary directory"),
        }
    }
    fn archive(&self) -> PathBuf {
        self.directory.path().join("archive")
    }
    fn out(&self) -> PathBuf {
        self.directory.path().join("work").join("out")
    }
    fn unpack(&self) -> Result<super::Unpacked, PackageError> {
        std::fs::create_dir_all(self.directory.path().join("work")).expect("work folder");
        unpack(&self.archive(), &self.out(), &PackageLimits::default())
    }
    /// Nothing but `out` in `work`, and nothing beside `archive` and `work` above it.
    fn assert_nothing_outside(&self) {
        let names = |folder: &Path| -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(folder)
                .expect("readable")
                .map(|entry| {
                    entry
                        .expect("entry")
                        .file_name()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
            names.sort();
            names
        };
        assert_eq!(names(self.directory.path()), ["archive", "work"]);
        let work = names(&self.directory.path().join("work"));
        assert!(
            work.is_empty() || work == ["out"],
            "unexpected files beside the destination: {work:?}"
        );
        assert!(!Path::new("/tmp/plugboard-evil").exists());
    }
}

/// A tar header with the name written raw, so it can hold what `tar::Builder` would refuse.
fn raw_header(name: &str, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    let bytes = name.as_bytes();
    header.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_cksum();
    header
}

fn tar_gz(entries: &[(tar::Header, &[u8])]) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(encoder);
    for (header, data) in entries {
        builder.append(header, *data).expect("append");
    }
    builder.into_inner().expect("tar").finish().expect("gzip")
}

fn link_header(name: &str, kind: tar::EntryType, target: &str) -> tar::Header {
    let mut header = raw_header(name, kind, 0);
    header.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
    header.set_cksum();
    header
}

fn manifest_entry() -> (tar::Header, &'static [u8]) {
    (
        raw_header(
            "plugin.toml",
            tar::EntryType::Regular,
            MANIFEST.len() as u64,
        ),
        MANIFEST.as_bytes(),
    )
}

fn refused(scene: &Scene, entries: &[(tar::Header, &[u8])], expected: &str) {
    std::fs::write(scene.archive(), tar_gz(entries)).expect("write archive");
    let error = scene.unpack().expect_err("a hostile archive is refused");
    assert!(
        error.to_string().contains(expected),
        "`{error}` should say `{expected}`"
    );
    scene.assert_nothing_outside();
}

#[test]
fn a_good_archive_unpacks_with_its_links_and_modes() {
    let scene = Scene::new();
    let mut script = raw_header("pkg/run.sh", tar::EntryType::Regular, 3);
    script.set_mode(0o4777);
    script.set_cksum();
    let mut manifest = manifest_entry();
    manifest.0 = raw_header(
        "pkg/plugin.toml",
        tar::EntryType::Regular,
        MANIFEST.len() as u64,
    );
    std::fs::write(
        scene.archive(),
        tar_gz(&[
            (raw_header("pkg/", tar::EntryType::Directory, 0), b""),
            manifest,
            (script, b"hi\n"),
            (
                link_header("pkg/alias.sh", tar::EntryType::Symlink, "run.sh"),
                b"",
            ),
        ]),
    )
    .expect("write");
    let unpacked = scene.unpack().expect("a good archive unpacks");
    assert_eq!(unpacked.files, 4);
    let checked = check(&scene.out()).expect("the package checks");
    assert_eq!(checked.root, scene.out().join("pkg"));
    assert_eq!(checked.manifest.id, "hello");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(scene.out().join("pkg/run.sh"))
        .expect("run.sh")
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o755, "setuid and world-write are dropped");
    assert_eq!(
        std::fs::read_to_string(scene.out().join("pkg/alias.sh")).expect("link"),
        "hi\n"
    );
}

#[test]
fn tar_entries_that_climb_out_are_refused() {
    refused(
        &Scene::new(),
        &[
            manifest_entry(),
            (
                raw_header("../../tmp/plugboard-evil", tar::EntryType::Regular, 4),
                b"evil",
            ),
        ],
        "climbs out with `..`",
    );
    refused(
        &Scene::new(),
        &[(
            raw_header("sub/../../evil", tar::EntryType::Regular, 4),
            b"evil",
        )],
        "climbs out with `..`",
    );
}

#[test]
fn absolute_tar_entries_are_refused() {
    refused(
        &Scene::new(),
        &[(
            raw_header("/tmp/plugboard-evil", tar::EntryType::Regular, 4),
            b"evil",
        )],
        "absolute path",
    );
}

#[test]
fn links_pointing_out_are_refused() {
    refused(
        &Scene::new(),
        &[(
            link_header("escape", tar::EntryType::Symlink, "../../.."),
            b"",
        )],
        "points outside the package",
    );
    refused(
        &Scene::new(),
        &[(link_header("escape", tar::EntryType::Symlink, "/etc"), b"")],
        "absolute path",
    );
    // A link, then a file written "through" it: the file makes a folder of that name first, so
    // the link can never be followed.
    refused(
        &Scene::new(),
        &[
            (
                link_header("through", tar::EntryType::Symlink, "../.."),
                b"",
            ),
            (
                raw_header("through/evil", tar::EntryType::Regular, 4),
                b"evil",
            ),
        ],
        "points outside the package",
    );
}

#[test]
fn a_chain_of_links_that_escapes_on_disk_is_refused() {
    // `here` points to the root and `there` to `here/../outside`: by name `there` stays inside,
    // but on disk `here/..` is the root's parent.
    refused(
        &Scene::new(),
        &[
            (raw_header("sub/", tar::EntryType::Directory, 0), b""),
            (link_header("sub/here", tar::EntryType::Symlink, ".."), b""),
            (
                link_header("sub/there", tar::EntryType::Symlink, "here/../x"),
                b"",
            ),
        ],
        "sub/there",
    );
}

#[test]
fn hard_links_and_devices_are_refused() {
    refused(
        &Scene::new(),
        &[
            manifest_entry(),
            (
                link_header("hard", tar::EntryType::Link, "plugin.toml"),
                b"",
            ),
        ],
        "hard link",
    );
    refused(
        &Scene::new(),
        &[(raw_header("tty", tar::EntryType::Char, 0), b"")],
        "device",
    );
    refused(
        &Scene::new(),
        &[(raw_header("pipe", tar::EntryType::Fifo, 0), b"")],
        "fifo",
    );
}

#[test]
fn a_duplicate_entry_is_refused() {
    refused(
        &Scene::new(),
        &[manifest_entry(), manifest_entry()],
        "appears twice",
    );
}

#[test]
fn a_gzip_bomb_is_stopped_while_it_inflates() {
    let scene = Scene::new();
    let size: u64 = 64 * 1024 * 1024;
    let encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(scene.archive()).expect("archive"),
        flate2::Compression::best(),
    );
    let mut builder = tar::Builder::new(encoder);
    let header = raw_header("zeros", tar::EntryType::Regular, size);
    builder
        .append(&header, std::io::Read::take(std::io::repeat(0), size))
        .expect("append");
    builder.into_inner().expect("tar").finish().expect("gzip");
    let error = scene.unpack().expect_err("a bomb is refused");
    assert!(
        error.to_string().contains("decompression bomb"),
        "unexpected: {error}"
    );
    scene.assert_nothing_outside();
}

#[test]
fn the_unpacked_size_and_file_count_are_capped() {
    let scene = Scene::new();
    std::fs::write(
        scene.archive(),
        tar_gz(&[
            (raw_header("a", tar::EntryType::Regular, 4), b"aaaa"),
            (raw_header("b", tar::EntryType::Regular, 4), b"bbbb"),
            (raw_header("c", tar::EntryType::Regular, 4), b"cccc"),
        ]),
    )
    .expect("write");
    std::fs::create_dir_all(scene.directory.path().join("work")).expect("work");
    let few_files = PackageLimits {
        max_files: 2,
        ..PackageLimits::default()
    };
    let error = unpack(&scene.archive(), &scene.out(), &few_files).expect_err("too many files");
    assert!(error.to_string().contains("more than 2 entries"), "{error}");
    std::fs::remove_dir_all(scene.out()).expect("clean");
    let few_bytes = PackageLimits {
        max_unpacked_bytes: 10,
        ..PackageLimits::default()
    };
    let error = unpack(&scene.archive(), &scene.out(), &few_bytes).expect_err("too many bytes");
    assert!(error.to_string().contains("more than 10 bytes"), "{error}");
}

#[test]
fn a_truncated_archive_is_damaged() {
    let scene = Scene::new();
    let big: Vec<u8> = (0..200_000u32).flat_map(|n| n.to_le_bytes()).collect();
    let whole = tar_gz(&[
        manifest_entry(),
        (
            raw_header("data.bin", tar::EntryType::Regular, big.len() as u64),
            &big,
        ),
    ]);
    std::fs::write(scene.archive(), &whole[..whole.len() / 2]).expect("write");
    let error = scene.unpack().expect_err("a truncated archive is refused");
    assert!(
        matches!(error, PackageError::Damaged { .. }),
        "unexpected: {error}"
    );
}

#[test]
fn something_that_is_no_archive_is_refused() {
    let scene = Scene::new();
    std::fs::write(scene.archive(), b"<html>not found</html>").expect("write");
    let error = scene.unpack().expect_err("html is no archive");
    assert!(error.to_string().contains("not a .tar.gz"), "{error}");
}

fn zip_with(names: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in names {
        writer.start_file(*name, options).expect("start");
        writer.write_all(data).expect("write");
    }
    writer.finish().expect("finish").into_inner()
}

#[test]
fn zip_slip_and_absolute_zip_entries_are_refused() {
    for (name, expected) in [
        ("../../tmp/plugboard-evil", "climbs out"),
        ("/tmp/plugboard-evil", "absolute path"),
        ("..\\..\\evil", "backslash"),
    ] {
        let scene = Scene::new();
        std::fs::write(
            scene.archive(),
            zip_with(&[("plugin.toml", MANIFEST.as_bytes()), (name, b"evil")]),
        )
        .expect("write");
        let error = scene.unpack().expect_err("zip slip is refused");
        assert!(error.to_string().contains(expected), "{name}: {error}");
        scene.assert_nothing_outside();
    }
}

#[test]
fn a_zip_bomb_is_refused_and_a_good_zip_unpacks() {
    let scene = Scene::new();
    let zeros = vec![0u8; 40 * 1024 * 1024];
    std::fs::write(
        scene.archive(),
        zip_with(&[("plugin.toml", MANIFEST.as_bytes()), ("zeros", &zeros)]),
    )
    .expect("write");
    let error = scene.unpack().expect_err("a zip bomb is refused");
    assert!(error.to_string().contains("decompression bomb"), "{error}");

    let scene = Scene::new();
    std::fs::write(
        scene.archive(),
        zip_with(&[("plugin.toml", MANIFEST.as_bytes()), ("main.py", b"pass\n")]),
    )
    .expect("write");
    scene.unpack().expect("a good zip unpacks");
    assert_eq!(
        check(&scene.out()).expect("checks").manifest.version,
        "1.0.0"
    );
}

#[test]
fn packages_without_a_good_manifest_are_refused_with_the_line() {
    let folder = tempfile::tempdir().expect("folder");
    std::fs::write(folder.path().join("main.py"), "pass\n").expect("write");
    let error = check(folder.path()).expect_err("no manifest");
    assert!(matches!(error, PackageError::NoManifest), "{error}");

    let wrong_type = "id = \"hello\"\nname = \"Hello\"\nversion = \"1.0.0\"\nprotocol = 1\ncommand = [\"python3\", \"main.py\"]\n\ninstances = \"two\"\n";
    std::fs::write(folder.path().join("plugin.toml"), wrong_type).expect("write");
    let error = check(folder.path()).expect_err("a wrong type").to_string();
    assert!(error.contains("line 7"), "{error}");
    assert!(error.contains("instances"), "{error}");

    for id in ["../evil", "a/b"] {
        let text = MANIFEST.replace("\"hello\"", &format!("\"{id}\""));
        std::fs::write(folder.path().join("plugin.toml"), text).expect("write");
        let error = check(folder.path()).expect_err("a bad id").to_string();
        assert!(error.contains("not a valid plugin id"), "{id}: {error}");
    }

    let missing_program = MANIFEST.replace("[\"python3\", \"main.py\"]", "[\"./run.sh\"]");
    std::fs::write(folder.path().join("plugin.toml"), missing_program).expect("write");
    let error = check(folder.path()).expect_err("no program").to_string();
    assert!(error.contains("not in the package"), "{error}");
}

#[test]
fn a_packed_folder_unpacks_to_the_same_files() {
    let folder = tempfile::tempdir().expect("folder");
    std::fs::write(folder.path().join("plugin.toml"), MANIFEST).expect("write");
    std::fs::create_dir_all(folder.path().join("lib/__pycache__")).expect("mkdir");
    std::fs::write(folder.path().join("lib/code.py"), "x = 1\n").expect("write");
    std::fs::write(folder.path().join("lib/__pycache__/code.pyc"), "junk").expect("write");
    std::os::unix::fs::symlink("lib/code.py", folder.path().join("alias.py")).expect("link");
    let scene = Scene::new();
    pack_folder(folder.path(), &scene.archive()).expect("pack");
    scene.unpack().expect("unpack");
    assert_eq!(
        std::fs::read_to_string(scene.out().join("alias.py")).expect("through the link"),
        "x = 1\n"
    );
    assert!(!scene.out().join("lib/__pycache__").exists());
}

#[test]
fn a_sparse_file_in_a_folder_is_packed_whole_and_unpacks() {
    use std::io::{Seek, SeekFrom, Write};
    let folder = tempfile::tempdir().expect("folder");
    std::fs::write(folder.path().join("plugin.toml"), MANIFEST).expect("write");
    // A file with a hole, as a linker often writes a binary.
    let mut binary = std::fs::File::create(folder.path().join("plugin-binary")).expect("create");
    binary.seek(SeekFrom::Start(4 * 1024 * 1024)).expect("seek");
    binary.write_all(b"end").expect("write");
    drop(binary);
    let scene = Scene::new();
    pack_folder(folder.path(), &scene.archive()).expect("pack");
    scene
        .unpack()
        .expect("a sparse file unpacks as a regular one");
    let unpacked = std::fs::read(scene.out().join("plugin-binary")).expect("read");
    assert_eq!(unpacked.len(), 4 * 1024 * 1024 + 3);
    assert!(unpacked.ends_with(b"end") && unpacked[..4096].iter().all(|byte| *byte == 0));
}

#[test]
fn declared_dependencies_must_be_held_and_comments_declare_none() {
    let folder = tempfile::tempdir().expect("folder");
    let root = folder.path();
    let requirements = root.join("requirements.txt");
    std::fs::write(&requirements, "# nothing yet\n\n").expect("write");
    super::check_dependencies(root).expect("comments only declare nothing");
    std::fs::write(&requirements, "# the SDK\nrequests==2.32.3\n").expect("write");
    let refused = super::check_dependencies(root).expect_err("requests is not in the package");
    assert!(
        refused.to_string().contains("plugboard plugin pack"),
        "{refused}"
    );
    std::fs::create_dir_all(root.join(super::PYTHON_DEPS)).expect("mkdir");
    super::check_dependencies(root).expect("built into .deps/python");
    std::fs::write(
        root.join("package.json"),
        r#"{"name": "p", "dependencies": {"left-pad": "1.3.0"}}"#,
    )
    .expect("write");
    assert!(super::check_dependencies(root).is_err());
    std::fs::create_dir_all(root.join("node_modules")).expect("mkdir");
    super::check_dependencies(root).expect("node_modules holds them");
}
