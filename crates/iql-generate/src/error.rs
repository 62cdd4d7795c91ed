use std::path::PathBuf;

/// What can stop a generation, naming the file and the place.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("cannot read {}: {reason}", file.display())]
    Read { file: PathBuf, reason: String },
    #[error("broken $ref '{reference}' at {from}: {reason}")]
    BrokenRef {
        reference: String,
        from: String,
        reason: String,
    },
    #[error("{at}: {message}")]
    Invalid { at: String, message: String },
    #[error("generator configuration {}: {reason}", file.display())]
    Config { file: PathBuf, reason: String },
    #[error("cannot write {}: {reason}", file.display())]
    Write { file: PathBuf, reason: String },
}
