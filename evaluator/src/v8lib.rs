//! Locating and loading `libmini_racer.so`.
//!
//! The raw calls live in the crate's `ffi` module, the only one allowed `unsafe`.

use std::path::{Path, PathBuf};

use crate::ffi;

/// The error this module returns (the crate's one error type).
pub type V8Error = crate::Error;

/// The environment variable that overrides where V8 is looked for.
pub const V8_DIR_ENV: &str = "QUORATE_V8_DIR";
/// The shared library file name inside the V8 directory.
pub const LIBRARY_FILE: &str = "libmini_racer.so";
/// ICU data V8 needs at initialisation, beside the library.
pub const ICU_DATA_FILE: &str = "icudtl.dat";
/// The V8 major.minor the evaluator is built and tested against (`mini-racer==0.14.1`).
pub const EXPECTED_V8_SERIES: &str = "14.4.";

/// A loaded `libmini_racer` whose version has been checked.
#[derive(Debug)]
pub struct V8Library {
    dir: PathBuf,
    version: String,
    // Held so the library stays mapped for as long as the handle lives.
    library: ffi::Library,
}

impl V8Library {
    /// The directories searched by [`V8Library::locate`], in order.
    pub fn search_path() -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        if let Some(dir) = std::env::var_os(V8_DIR_ENV).filter(|v| !v.is_empty()) {
            dirs.push(PathBuf::from(dir));
        }
        dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/v8"));
        if let Some(exe_dir) =
            std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf))
        {
            dirs.push(exe_dir.join("../lib/quorate/v8"));
        }
        dirs
    }

    /// Finds V8 along [`V8Library::search_path`] and loads it.
    pub fn locate() -> Result<Self, V8Error> {
        let searched = Self::search_path();
        match searched.iter().find(|dir| dir.join(LIBRARY_FILE).is_file()) {
            Some(dir) => Self::open(dir),
            None => Err(V8Error::NotFound { searched }),
        }
    }

    /// Loads V8 from `dir`, which must hold the library and its ICU data.
    pub fn open(dir: &Path) -> Result<Self, V8Error> {
        let path = dir.join(LIBRARY_FILE);
        if !path.is_file() {
            return Err(V8Error::NotFound { searched: vec![dir.to_path_buf()] });
        }
        if !dir.join(ICU_DATA_FILE).is_file() {
            return Err(V8Error::MissingIcuData { dir: dir.to_path_buf() });
        }
        let library = ffi::Library::open(&path)
            .map_err(|reason| V8Error::Load { path: path.clone(), reason })?;
        let version =
            library.v8_version().map_err(|reason| V8Error::Load { path: path.clone(), reason })?;
        if !version.starts_with(EXPECTED_V8_SERIES) {
            return Err(V8Error::WrongVersion { path, found: version });
        }
        Ok(Self { dir: dir.to_path_buf(), version, library })
    }

    /// The V8 version the library reports, e.g. `14.4.xxx`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The directory the library was loaded from (its ICU data is beside it).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn library(&self) -> &ffi::Library {
        &self.library
    }
}
