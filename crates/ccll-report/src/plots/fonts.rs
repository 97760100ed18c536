//! Fonts for headless machines: plotters lays text out with ab_glyph from a TrueType file
//! loaded at run time (no fontconfig, no system font library). DejaVu Sans comes with the
//! Debian package `fonts-dejavu-core`; `CCLL_FONT` points at another TTF.

use crate::ReportError;
use plotters::style::{register_font, FontStyle};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The environment variable naming a TTF to use instead of DejaVu Sans.
pub const FONT_ENV: &str = "CCLL_FONT";

const REGULAR: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/local/share/fonts/DejaVuSans.ttf",
];
const BOLD: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",
    "/usr/local/share/fonts/DejaVuSans-Bold.ttf",
];

/// Registers the regular (and, where found, bold) font as plotters' "sans-serif", once per
/// process. Fails with what to install when no font can be found.
pub fn ensure_fonts() -> Result<(), ReportError> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    LOADED.get_or_init(load).clone().map_err(ReportError::Font)
}

fn load() -> Result<(), String> {
    let regular = match std::env::var_os(FONT_ENV).filter(|v| !v.is_empty()) {
        Some(p) => {
            let p = PathBuf::from(p);
            if !p.is_file() {
                return Err(format!(
                    "{FONT_ENV}={} is not a file; point it at a .ttf font",
                    p.display()
                ));
            }
            p
        }
        None => first_existing(REGULAR).ok_or_else(|| {
            format!(
                "no font for the charts: DejaVu Sans was not found in {}. Install it with \
                 `apt-get install fonts-dejavu-core`, or set {FONT_ENV} to a .ttf file",
                REGULAR.join(", ")
            )
        })?,
    };
    register(&regular, FontStyle::Normal)?;
    // The bold face is optional: plotters falls back to the regular one.
    let bold = if std::env::var_os(FONT_ENV).is_some_and(|v| !v.is_empty()) {
        None
    } else {
        first_existing(BOLD)
    };
    if let Some(bold) = bold {
        register(&bold, FontStyle::Bold)?;
    }
    Ok(())
}

fn first_existing(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

fn register(path: &Path, style: FontStyle) -> Result<(), String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read font {}: {e}", path.display()))?;
    // plotters keeps fonts for the life of the process; this runs once per face.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    register_font("sans-serif", style, bytes)
        .map_err(|_| format!("{} is not a TrueType/OpenType font", path.display()))
}
