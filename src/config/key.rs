//! Finding the API key (the README (Configuration, and how the key is kept)). The key itself is only ever held as an
//! [`ApiKey`], whose `Debug` shows a fingerprint; errors and warnings carry paths only.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{ConfigError, KeySource, Source, CREDENTIAL_NAME};
use crate::domain::ApiKey;

/// A key file is a few dozen bytes; anything far larger is almost certainly the wrong file,
/// and reading it whole would be pointless.
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// The places a key may come from, already looked up by the caller.
pub(super) struct KeyCandidates {
    /// `--api-key-file`.
    pub flag_file: Option<PathBuf>,
    /// `XTRAKIT_API_KEY`, the key itself.
    pub env_key: Option<String>,
    /// `XTRAKIT_API_KEY_FILE`.
    pub env_file: Option<PathBuf>,
    /// `api_key_file` of the TOML file, with that file's source.
    pub config_file: Option<(PathBuf, Source)>,
    /// `$CREDENTIALS_DIRECTORY`.
    pub credentials_dir: Option<PathBuf>,
}

/// Every place a key may come from and why it gave none, in lookup order, as one line:
/// the message an operator needs when no key was found. Holds names and paths only.
pub(super) fn searched(c: &KeyCandidates, config_file: Option<&Path>) -> String {
    let unset = |set: bool| if set { "empty" } else { "not set" };
    let file_part = match config_file {
        None => "api_key_file (no config file)".to_owned(),
        Some(path) => format!("api_key_file in {} (not set)", path.display()),
    };
    let credential = match &c.credentials_dir {
        Some(dir) => format!("{} (no such file)", dir.join(CREDENTIAL_NAME).display()),
        None => format!(
            "systemd credential {CREDENTIAL_NAME} ($CREDENTIALS_DIRECTORY not set: \
             systemd passes it only to the service)"
        ),
    };
    format!(
        "--api-key-file (not given), XTRAKIT_API_KEY ({}), XTRAKIT_API_KEY_FILE (not set), \
         {file_part}, {credential}",
        unset(c.env_key.is_some())
    )
}

/// The key that won, where it came from, and (for files) the source of `api_key_file`.
pub(super) struct ResolvedKey {
    pub key: ApiKey,
    pub source: KeySource,
    pub file_origin: Option<Source>,
    pub warning: Option<String>,
}

/// The first usable candidate, highest first: flag file, env key, env file, config file,
/// systemd credential. A file named at a winning level must be usable: silently falling
/// through to another key would hide a typo in a path.
pub(super) fn resolve(c: KeyCandidates) -> Result<Option<ResolvedKey>, ConfigError> {
    if let Some(path) = c.flag_file {
        return from_file(path, Source::Flag("--api-key-file")).map(Some);
    }
    if let Some(raw) = c.env_key {
        if let Some(key) = ApiKey::new(&raw) {
            check_key_chars(&key).map_err(|message| ConfigError::Setting {
                key: "api_key",
                origin: Source::Env("XTRAKIT_API_KEY"),
                message,
            })?;
            return Ok(Some(ResolvedKey {
                key,
                source: KeySource::Env,
                file_origin: None,
                warning: None,
            }));
        }
    }
    if let Some(path) = c.env_file {
        return from_file(path, Source::Env("XTRAKIT_API_KEY_FILE")).map(Some);
    }
    if let Some((path, origin)) = c.config_file {
        return from_file(path, origin).map(Some);
    }
    let Some(dir) = c.credentials_dir else {
        return Ok(None);
    };
    let path = dir.join(CREDENTIAL_NAME);
    if !path.exists() {
        return Ok(None);
    }
    let mut found = from_file(path.clone(), Source::Credentials)?;
    found.source = KeySource::Credential(path);
    Ok(Some(found))
}

fn from_file(path: PathBuf, origin: Source) -> Result<ResolvedKey, ConfigError> {
    let fail = |message: String| ConfigError::KeyFile {
        path: path.clone(),
        origin: origin.clone(),
        message,
    };
    let (key, mode) = read_key_file(&path).map_err(fail)?;
    check_key_chars(&key).map_err(fail)?;
    let warning = mode.filter(|mode| mode & 0o044 != 0).map(|mode| {
        format!(
            "API key file {} is readable by group or others (mode {:04o}); chmod 600 it",
            path.display(),
            mode & 0o7777
        )
    });
    Ok(ResolvedKey {
        key,
        source: KeySource::File(path),
        file_origin: Some(origin),
        warning,
    })
}

/// The key read again from where it came from (a rotated key file or credential); `None` for
/// a key from the environment, which a running process cannot see change.
pub fn reread(source: &KeySource) -> Result<Option<ApiKey>, String> {
    match source {
        KeySource::Env => Ok(None),
        KeySource::File(path) | KeySource::Credential(path) => {
            let (key, _) = read_key_file(path)?;
            check_key_chars(&key)?;
            Ok(Some(key))
        }
    }
}

/// The trimmed key and, on unix, the file's permission bits.
fn read_key_file(path: &Path) -> Result<(ApiKey, Option<u32>), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot stat: {e}"))?;
    if meta.is_dir() {
        return Err("is a directory, not a file".to_owned());
    }
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(format!(
            "is larger than {MAX_KEY_FILE_BYTES} bytes; a key file holds the key alone"
        ));
    }
    let text = String::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_owned())?;
    let key = ApiKey::new(&text).ok_or_else(|| "is empty".to_owned())?;
    Ok((key, file_mode(&meta)))
}

#[cfg(unix)]
fn file_mode(meta: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(meta.permissions().mode())
}

#[cfg(not(unix))]
fn file_mode(_meta: &std::fs::Metadata) -> Option<u32> {
    None
}

/// A key with a line break or other control character inside cannot go in an HTTP header;
/// it usually means a file holding more than the key.
fn check_key_chars(key: &ApiKey) -> Result<(), String> {
    if key.expose().chars().any(char::is_control) {
        return Err("the key contains a line break or control character".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> KeyCandidates {
        KeyCandidates {
            flag_file: None,
            env_key: None,
            env_file: None,
            config_file: None,
            credentials_dir: None,
        }
    }

    fn key_file(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        #[cfg(not(unix))]
        let _ = mode;
        path
    }

    #[test]
    fn no_candidate_means_no_key() {
        assert!(resolve(none()).unwrap().is_none());
    }

    #[test]
    fn key_file_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = key_file(dir.path(), "key", "  abc-123 \n\n", 0o600);
        let found = resolve(KeyCandidates {
            flag_file: Some(path.clone()),
            ..none()
        })
        .unwrap()
        .unwrap();
        assert_eq!(found.key.expose(), "abc-123");
        assert_eq!(found.source, KeySource::File(path));
        assert!(found.warning.is_none());
    }

    #[cfg(unix)]
    #[test]
    fn key_file_readable_by_others_adds_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let path = key_file(dir.path(), "key", "abc", 0o644);
        let found = from_file(path, Source::Flag("--api-key-file")).unwrap();
        let warning = found.warning.unwrap();
        assert!(warning.contains("mode 0644"), "{warning}");
        assert!(warning.contains("chmod 600"), "{warning}");
    }

    #[test]
    fn flag_key_file_beats_env_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = key_file(dir.path(), "key", "from-file", 0o600);
        let found = resolve(KeyCandidates {
            flag_file: Some(path),
            env_key: Some("from-env".to_owned()),
            ..none()
        })
        .unwrap()
        .unwrap();
        assert_eq!(found.key.expose(), "from-file");
    }

    #[test]
    fn env_key_beats_env_and_config_key_files() {
        let found = resolve(KeyCandidates {
            env_key: Some("from-env".to_owned()),
            env_file: Some(PathBuf::from("/nonexistent/a")),
            config_file: Some((PathBuf::from("/nonexistent/b"), Source::Default)),
            ..none()
        })
        .unwrap()
        .unwrap();
        assert_eq!(found.source, KeySource::Env);
    }

    #[test]
    fn empty_or_missing_named_key_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let empty = key_file(dir.path(), "empty", " \n", 0o600);
        for path in [empty, dir.path().join("missing")] {
            let err = resolve(KeyCandidates {
                env_file: Some(path),
                ..none()
            });
            assert!(err.is_err());
        }
    }

    #[test]
    fn credentials_directory_is_the_last_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let path = key_file(dir.path(), CREDENTIAL_NAME, "cred-key\n", 0o400);
        let found = resolve(KeyCandidates {
            credentials_dir: Some(dir.path().to_owned()),
            ..none()
        })
        .unwrap()
        .unwrap();
        assert_eq!(found.key.expose(), "cred-key");
        assert_eq!(found.source, KeySource::Credential(path));
    }

    #[test]
    fn credentials_directory_without_the_credential_means_no_key() {
        let dir = tempfile::tempdir().unwrap();
        let found = resolve(KeyCandidates {
            credentials_dir: Some(dir.path().to_owned()),
            ..none()
        });
        assert!(found.unwrap().is_none());
    }

    #[test]
    fn multi_line_key_file_is_rejected_without_echoing_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = key_file(dir.path(), "key", "zz-line-one\nzz-line-two\n", 0o600);
        let err = from_file(path, Source::Flag("--api-key-file"))
            .err()
            .unwrap()
            .to_string();
        assert!(!err.contains("zz-line"), "{err}");
    }
}
