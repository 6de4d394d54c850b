//! Locating and loading `libmini_racer.so`.
//!
//! All `unsafe` of this crate lives in [`ffi`], each block with its reason.

use std::path::{Path, PathBuf};

/// The environment variable that overrides where V8 is looked for.
pub const V8_DIR_ENV: &str = "QUORATE_V8_DIR";
/// The shared library file name inside the V8 directory.
pub const LIBRARY_FILE: &str = "libmini_racer.so";
/// ICU data V8 needs at initialisation, beside the library.
pub const ICU_DATA_FILE: &str = "icudtl.dat";
/// The V8 major.minor the evaluator is built and tested against (`mini-racer==0.14.1`).
pub const EXPECTED_V8_SERIES: &str = "14.4.";

/// Why V8 could not be loaded. Every message tells the user what to run.
#[derive(Debug, thiserror::Error)]
pub enum V8Error {
    /// No directory in the search order holds the library.
    #[error(
        "V8 (libmini_racer.so) not found; looked in: {}. Run ./scripts/setup, or set {V8_DIR_ENV} to a directory holding libmini_racer.so and icudtl.dat",
        .searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NotFound {
        /// Every directory tried, in order.
        searched: Vec<PathBuf>,
    },
    /// The library file is there but ICU data is not.
    #[error("{} is missing beside {}: run ./scripts/setup", ICU_DATA_FILE, .dir.display())]
    MissingIcuData {
        /// The directory holding the library.
        dir: PathBuf,
    },
    /// The dynamic loader refused the file, or a symbol is missing.
    #[error("cannot load {}: {reason}; run ./scripts/setup to reinstall it", .path.display())]
    Load {
        /// The file that failed.
        path: PathBuf,
        /// The loader's words.
        reason: String,
    },
    /// The library is a different V8 than the one this evaluator supports.
    #[error(
        "{} is V8 {found}, but V8 {EXPECTED_V8_SERIES}x is required: run ./scripts/setup",
        .path.display()
    )]
    WrongVersion {
        /// The file loaded.
        path: PathBuf,
        /// The version it reported.
        found: String,
    },
}

/// A loaded `libmini_racer` whose version has been checked.
#[derive(Debug)]
pub struct V8Library {
    dir: PathBuf,
    version: String,
    // Held so the library stays mapped for as long as the handle lives.
    _library: ffi::Library,
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
        Ok(Self { dir: dir.to_path_buf(), version, _library: library })
    }

    /// The V8 version the library reports, e.g. `14.4.xxx`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The directory the library was loaded from (its ICU data is beside it).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[allow(unsafe_code)]
mod ffi {
    //! The raw C API of libmini_racer. Only this module touches it.

    use std::{ffi::CStr, os::raw::c_char, path::Path};

    /// An open `libmini_racer.so`.
    #[derive(Debug)]
    pub(super) struct Library(libloading::Library);

    impl Library {
        pub(super) fn open(path: &Path) -> Result<Self, String> {
            // SAFETY: loading runs the library's static initialisers. libmini_racer's are V8's
            // own, which only set up process-wide tables; the file is the one scripts/setup
            // unpacked after checking the wheel's sha256.
            unsafe { libloading::Library::new(path) }.map(Self).map_err(|e| e.to_string())
        }

        /// Calls `const char* mr_v8_version(void)`.
        pub(super) fn v8_version(&self) -> Result<String, String> {
            // SAFETY: the symbol's C signature is `const char* mr_v8_version()` (see the
            // wheel's _dll.py); the type below matches it exactly.
            let f = unsafe {
                self.0.get::<unsafe extern "C" fn() -> *const c_char>(b"mr_v8_version\0")
            }
            .map_err(|e| e.to_string())?;
            // SAFETY: no arguments; V8 must not be initialised for this call (it reads a
            // compile-time constant).
            let ptr = unsafe { f() };
            if ptr.is_null() {
                return Err("mr_v8_version returned null".into());
            }
            // SAFETY: the pointer is non-null and points at a static NUL-terminated string
            // owned by the library, which `self` keeps loaded for this borrow.
            let text = unsafe { CStr::from_ptr(ptr) };
            Ok(text.to_string_lossy().into_owned())
        }
    }
}
