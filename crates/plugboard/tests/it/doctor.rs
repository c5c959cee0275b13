//! `plugboard doctor` as a person and a script see it: the real binary, this machine's kernel.

use serde_json::Value;

use crate::harness::{plugboard, temp_dir};

#[test]
fn doctor_reports_the_protections_of_this_machine() {
    let data = temp_dir();
    let output = plugboard(&[
        "doctor",
        "--json",
        "--data-dir",
        data.path().to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(&stdout).expect("doctor --json prints JSON");
    assert_eq!(report["ok"], Value::Bool(true), "{report}");
    let status = |id: &str| {
        report["protections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|protection| protection["id"] == id)
            .map(|protection| protection["status"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("{id} is reported: {report}"))
    };
    for id in [
        "no_new_privs",
        "parent_death_signal",
        "process_groups",
        "rlimit.open_files",
    ] {
        assert_eq!(status(id), "in_force", "{report}");
    }
    let expected = match plugboard::plugins::landlock::abi_version() {
        Ok(abi) => {
            assert_eq!(report["landlock_abi"], abi, "{report}");
            "in_force"
        }
        Err(_) => {
            assert!(report["landlock_abi"].is_null(), "{report}");
            "missing"
        }
    };
    assert_eq!(status("landlock.file_reads"), expected, "{report}");
    assert_eq!(status("landlock.file_writes"), expected, "{report}");
    assert_eq!(report["checks"][0]["id"], "data_dir", "{report}");
    assert_eq!(report["checks"][0]["ok"], Value::Bool(true), "{report}");

    let table = plugboard(&["doctor", "--data-dir", data.path().to_str().unwrap()]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(table.status.success(), "{text}");
    for words in [
        "Landlock file reads",
        "no_new_privs",
        "rlimit open files",
        "data directory",
    ] {
        assert!(text.contains(words), "{words} in:\n{text}");
    }
}

#[test]
fn doctor_fails_and_says_what_to_do_when_the_data_directory_is_unusable() {
    let data = temp_dir();
    let file = data.path().join("not-a-folder");
    std::fs::write(&file, "").unwrap();
    let output = plugboard(&["doctor", "--data-dir", file.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("is not a directory; choose another with --data-dir"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Plugins cannot run as configured"),
        "{stdout}"
    );
}
