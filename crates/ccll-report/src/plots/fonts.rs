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
    let chosen = std::env::var_os(FONT_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let (regular, bold) = find(chosen, REGULAR, BOLD)?;
    register(&regular, FontStyle::Normal)?;
    // The bold face is optional: plotters falls back to the regular one.
    if let Some(bold) = bold {
        register(&bold, FontStyle::Bold)?;
    }
    Ok(())
}

/// The regular and bold font files: `chosen` (from `CCLL_FONT`, used for both faces) or the
/// first of the candidates that exists.
fn find(
    chosen: Option<PathBuf>,
    regular: &[&str],
    bold: &[&str],
) -> Result<(PathBuf, Option<PathBuf>), String> {
    if let Some(p) = chosen {
        if !p.is_file() {
            return Err(format!(
                "{FONT_ENV}={} is not a file; point it at a .ttf font",
                p.display()
            ));
        }
        return Ok((p, None));
    }
    let found = first_existing(regular).ok_or_else(|| {
        format!(
            "no font for the charts: DejaVu Sans was not found in {}. Install it with \
             `apt-get install fonts-dejavu-core`, or set {FONT_ENV} to a .ttf file",
            regular.join(", ")
        )
    })?;
    Ok((found, first_existing(bold)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_font_says_what_to_install() {
        let err = find(None, &["/nonexistent/DejaVuSans.ttf"], &[]).unwrap_err();
        assert!(err.contains("apt-get install fonts-dejavu-core"), "{err}");
        assert!(err.contains(FONT_ENV), "{err}");
        let err = find(Some(PathBuf::from("/nonexistent/x.ttf")), REGULAR, BOLD).unwrap_err();
        assert!(err.contains("/nonexistent/x.ttf"), "{err}");
    }

    #[test]
    fn a_file_that_is_not_a_font_is_refused() {
        let dir = std::env::temp_dir().join(format!("ccll-font-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bogus = dir.join("bogus.ttf");
        std::fs::write(&bogus, b"not a font").unwrap();
        let err = register(&bogus, FontStyle::Normal).unwrap_err();
        assert!(err.contains("not a TrueType"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
