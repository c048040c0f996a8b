//! Where the game finds `app_data.json`: the rule is a pure function of (arguments, executable
//! path, target OS), so every OS's case runs on any host.

use std::path::{Path, PathBuf};

use patchbay_license_client::{
    AppDataError, ArgsError, LaunchData, LaunchError, TargetOs, check_from_environment,
    check_from_environment_blocking,
};

fn located(args: &[&str], executable: &str, os: TargetOs) -> Result<PathBuf, ArgsError> {
    LaunchData::locate(args.iter().copied(), Path::new(executable), os).map(|l| l.path().to_path_buf())
}

#[test]
fn windows_launcher_argument_is_used() {
    // Forward slashes: a Windows path's backslashes are not separators on a Unix host, and the
    // argument is passed through untouched anyway.
    let args = ["game.exe", "+patcher-data-location", "C:/Users/p/PatchKit/Apps/x/app_data.json"];
    assert_eq!(
        located(&args, "C:/Users/p/PatchKit/Apps/x/app/game.exe", TargetOs::Windows),
        Ok(PathBuf::from("C:/Users/p/PatchKit/Apps/x/app_data.json"))
    );
    // Without the argument, Windows falls back to the file next to the executable.
    assert_eq!(
        located(&["game.exe"], "C:/Games/x/game.exe", TargetOs::Windows),
        Ok(PathBuf::from("C:/Games/x/app_data.json"))
    );
}

#[test]
fn linux_looks_next_to_the_executable() {
    assert_eq!(
        located(&["-fullscreen"], "/home/p/games/space-race/space-race.x86_64", TargetOs::Linux),
        Ok(PathBuf::from("/home/p/games/space-race/app_data.json"))
    );
    // A bare relative executable name: the current directory's file.
    assert_eq!(located(&[], "space-race", TargetOs::Linux), Ok(PathBuf::from("app_data.json")));
}

#[test]
fn macos_looks_beside_the_app_bundle() {
    assert_eq!(
        located(&[], "/Users/p/Games/Space Race/Space Race.app/Contents/MacOS/Space Race", TargetOs::MacOs),
        Ok(PathBuf::from("/Users/p/Games/Space Race/app_data.json"))
    );
    // The bundle extension is matched case-insensitively, like the Finder does.
    assert_eq!(
        located(&[], "/Games/x/Game.APP/Contents/MacOS/game", TargetOs::MacOs),
        Ok(PathBuf::from("/Games/x/app_data.json"))
    );
}

#[test]
fn macos_outside_a_bundle_looks_next_to_the_executable() {
    for executable in [
        "/Games/x/game",
        "/Games/x/Contents/MacOS/game",
        "/Games/x/Game.app/MacOS/game",
        "/Games/x/Game.app/Contents/Resources/game",
        "/Games/x/Game.bundle/Contents/MacOS/game",
    ] {
        let beside = Path::new(executable).parent().unwrap().join("app_data.json");
        assert_eq!(located(&[], executable, TargetOs::MacOs), Ok(beside), "{executable}");
    }
}

#[test]
fn bundle_layout_means_nothing_on_other_systems() {
    let executable = "/Games/x/Game.app/Contents/MacOS/game";
    for os in [TargetOs::Linux, TargetOs::Windows, TargetOs::Other] {
        assert_eq!(
            located(&[], executable, os),
            Ok(PathBuf::from("/Games/x/Game.app/Contents/MacOS/app_data.json")),
            "{os:?}"
        );
    }
}

#[test]
fn the_argument_wins_when_present_on_every_os() {
    let executables = [
        (TargetOs::Windows, "C:/Games/x/game.exe"),
        (TargetOs::Linux, "/opt/x/game"),
        (TargetOs::MacOs, "/Games/x/Game.app/Contents/MacOS/game"),
        (TargetOs::Other, "/usr/local/games/x/game"),
    ];
    for (os, executable) in executables {
        assert_eq!(
            located(&["+patcher-data-location=../data/app_data.json"], executable, os),
            Ok(PathBuf::from("../data/app_data.json")),
            "{os:?}"
        );
    }
}

#[test]
fn a_broken_argument_is_an_error_not_a_fallback() {
    // The launcher meant to point somewhere: silently reading another file would hide that.
    assert_eq!(
        located(&["+patcher-data-location"], "/opt/x/game", TargetOs::Linux),
        Err(ArgsError::MissingValue)
    );
}

#[test]
fn from_environment_uses_this_process() {
    // The test harness is not started with `+patcher-data-location`, so the answer is the file
    // next to the test binary (none of the test runner's own arguments is the flag).
    let located = LaunchData::from_environment().unwrap();
    let executable = std::env::current_exe().unwrap();
    assert_eq!(located.path(), executable.parent().unwrap().join("app_data.json"));
}

#[tokio::test]
async fn check_from_environment_reads_the_file_found_for_this_process() {
    // No app_data.json next to the test binary: the error names where it was looked for, and
    // no request is made (the base URL has nothing listening).
    let expected = std::env::current_exe().unwrap().parent().unwrap().join("app_data.json");
    let base_url = "http://127.0.0.1:9";
    for result in [
        check_from_environment(base_url, "app-secret").await,
        tokio::task::spawn_blocking(move || check_from_environment_blocking(base_url, "app-secret"))
            .await
            .unwrap(),
    ] {
        match result {
            Err(LaunchError::AppData(err @ AppDataError::NotFound { .. })) => {
                assert_eq!(err.path(), expected);
            }
            other => panic!("{other:?}"),
        }
    }
}
