use quorate_evaluator::v8lib::{EXPECTED_V8_SERIES, V8Error, V8Library};

#[test]
fn the_installed_v8_loads_and_is_the_pinned_version() {
    let v8 = V8Library::locate().unwrap_or_else(|e| panic!("{e}"));
    assert!(v8.version().starts_with(EXPECTED_V8_SERIES), "{}", v8.version());
    assert!(v8.dir().join("icudtl.dat").is_file());
}

#[test]
fn an_empty_directory_is_a_clear_error_naming_the_setup_command() {
    let dir = std::env::temp_dir().join(format!("quorate-v8-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let err = V8Library::open(&dir).unwrap_err();
    assert!(matches!(err, V8Error::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("./scripts/setup"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_corrupt_library_is_refused_not_crashed_on() {
    let dir = std::env::temp_dir().join(format!("quorate-v8-corrupt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("libmini_racer.so"), b"not an ELF file").unwrap();
    std::fs::write(dir.join("icudtl.dat"), b"").unwrap();
    let err = V8Library::open(&dir).unwrap_err();
    assert!(matches!(err, V8Error::Load { .. }), "{err:?}");
    assert!(err.to_string().contains("./scripts/setup"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_icu_data_is_named() {
    let real = V8Library::locate().unwrap_or_else(|e| panic!("{e}"));
    let dir = std::env::temp_dir().join(format!("quorate-v8-noicu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(real.dir().join("libmini_racer.so"), dir.join("libmini_racer.so"))
        .unwrap();
    let err = V8Library::open(&dir).unwrap_err();
    assert!(matches!(err, V8Error::MissingIcuData { .. }), "{err:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
