use std::path::PathBuf;

/// Everything that can be wrong with a provider document, always naming the file and the place.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("cannot read provider document {file}: {error}")]
    Read {
        file: PathBuf,
        /// Shown in the message (not chained as a source, so it is not printed twice).
        error: std::io::Error,
    },
    #[error("{file}: YAML error{}: {message}", location.map(|(l, c)| format!(" at line {l}, column {c}")).unwrap_or_default())]
    Yaml {
        file: PathBuf,
        location: Option<(usize, usize)>,
        message: String,
    },
    #[error("{file}: unresolved $ref '{reference}' at {at}")]
    UnresolvedRef {
        file: PathBuf,
        reference: String,
        at: String,
    },
    #[error("{file}: {at}: {message}")]
    Invalid {
        file: PathBuf,
        at: String,
        message: String,
    },
    #[error("no provider named '{name}' under {root}{}", suggestion.as_ref().map(|s| format!("; did you mean '{s}'?")).unwrap_or_default())]
    UnknownProvider {
        name: String,
        root: String,
        suggestion: Option<String>,
    },
    #[error("provider '{provider}' has no service '{name}'{}", suggestion.as_ref().map(|s| format!("; did you mean '{s}'?")).unwrap_or_default())]
    UnknownService {
        provider: String,
        name: String,
        suggestion: Option<String>,
    },
    #[error("service '{service}' has no resource '{name}'{}", suggestion.as_ref().map(|s| format!("; did you mean '{s}'?")).unwrap_or_default())]
    UnknownResource {
        service: String,
        name: String,
        suggestion: Option<String>,
    },
}
