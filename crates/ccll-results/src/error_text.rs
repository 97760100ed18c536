//! One line for an error and its causes, as the binaries print it.

/// The error's message followed by each cause (`outer: inner`), leaving out a cause whose
/// message the text already holds: errors that print their source (`cannot open X: {source}`)
/// would otherwise show it twice.
pub fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let message = c.to_string();
        if !text.contains(&message) {
            text = format!("{text}: {message}");
        }
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::error_text;

    #[derive(Debug)]
    struct Leaf;
    impl std::fmt::Display for Leaf {
        fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("disk I/O error")
        }
    }
    impl std::error::Error for Leaf {}

    /// Prints its source inside its own message, or not.
    #[derive(Debug)]
    struct Outer(bool, Leaf);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            if self.0 {
                write!(f, "cannot open /db: {}", self.1)
            } else {
                f.write_str("cannot open /db")
            }
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.1)
        }
    }

    #[test]
    fn each_cause_is_said_once() {
        assert_eq!(
            error_text(&Outer(true, Leaf)),
            "cannot open /db: disk I/O error"
        );
        assert_eq!(
            error_text(&Outer(false, Leaf)),
            "cannot open /db: disk I/O error"
        );
        assert_eq!(error_text(&Leaf), "disk I/O error");
    }
}
