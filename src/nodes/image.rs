//! `stigfix nodes image`: an image of this very stigfix, built offline — no base image, no
//! registry. One layer holds the running binary (read from `/proc/self/exe`) at
//! `/usr/local/bin/stigfix`, the dynamic loader and every shared library `ldd` lists for it, at
//! the paths `ldd` found them, and an empty `/tmp`; owners root, times 0, so the same binary
//! gives the same layer. The archive is what `docker save` writes (`manifest.json`, the image
//! config `<sha256>.json`, `<layer>/layer.tar` with its legacy `VERSION` and `json`, and
//! `repositories`), which `docker load` of every Engine since 1.10 reads.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::json;
use sha2::{Digest, Sha256};

use super::job::LABEL;
use crate::error::{Error, IoContext, Result};

/// Where the binary is in the image.
pub const BINARY: &str = "/usr/local/bin/stigfix";

/// A file of the image: its path there and where its bytes are read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageFile {
    pub path: String,
    pub source: PathBuf,
}

/// What was written.
#[derive(Clone, Debug)]
pub struct Built {
    pub reference: String,
    /// `sha256:…` of the image config: the image ID `docker images` shows.
    pub id: String,
    pub files: usize,
    pub bytes: u64,
}

/// The libraries and the loader of `ldd`'s output, in its order. `Err` names a library that
/// is not found.
pub fn parse_ldd(text: &str) -> std::result::Result<Vec<PathBuf>, String> {
    let mut paths = Vec::new();
    for line in text.lines().map(str::trim).filter(|line| !line.is_empty()) {
        if line.contains("=> not found") {
            return Err(format!("ldd cannot find a library it needs: {line}"));
        }
        let path = match line.split_once("=>") {
            Some((_, after)) => after.trim(),
            None => line,
        };
        let path = path.split(" (").next().unwrap_or_default().trim();
        if path.starts_with('/') {
            paths.push(PathBuf::from(path));
        }
    }
    Ok(paths)
}

/// `stigfix:0.1.0` from a reference without a tag (the version is the tag), checked as Docker
/// checks a name: lowercase path components, a tag of letters, digits, `_`, `.` and `-`.
pub fn reference(tag: Option<&str>) -> Result<String> {
    let version = env!("CARGO_PKG_VERSION");
    let text = tag.unwrap_or("stigfix").trim();
    let last = text.rsplit('/').next().unwrap_or(text);
    let full = if last.contains(':') {
        text.to_string()
    } else {
        format!("{text}:{version}")
    };
    let (name, tag) = full.rsplit_once(':').unwrap_or((&full, ""));
    let parts: Vec<&str> = name.split('/').collect();
    let name_ok = parts.iter().enumerate().all(|(index, part)| {
        let domain = index == 0
            && parts.len() > 1
            && (part.contains('.') || part.contains(':') || *part == "localhost");
        !part.is_empty()
            && part.chars().all(|c| {
                c.is_ascii_lowercase()
                    || c.is_ascii_digit()
                    || matches!(c, '.' | '_' | '-')
                    || (domain && (c == ':' || c.is_ascii_uppercase()))
            })
    });
    let tag_ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !name_ok || !tag_ok {
        return Err(Error::usage(format!(
            "--tag {text}: not an image reference (NAME[:TAG], lowercase, e.g. dtr.example.mil/admin/stigfix:{version})"
        )));
    }
    Ok(full)
}

/// The files of the image: this binary and what `ldd` says it loads.
pub fn files() -> Result<Vec<ImageFile>> {
    let exe = std::env::current_exe()
        .map_err(|error| Error::new(format!("cannot find the running stigfix binary: {error}")))?;
    let ldd = std::process::Command::new("ldd").arg(&exe).output();
    let ldd = match ldd {
        Ok(output) => output,
        Err(error) => {
            return Err(Error::new(format!(
                "cannot run `ldd {}` to list the libraries stigfix needs: {error}",
                exe.display()
            ))
            .with_hint(
                "install ldd (Debian/Ubuntu: libc-bin; RHEL: glibc-common) and run it again",
            ));
        }
    };
    let stdout = String::from_utf8_lossy(&ldd.stdout);
    let stderr = String::from_utf8_lossy(&ldd.stderr);
    // A static binary: "not a dynamic executable" (exit 1) or "statically linked".
    let libraries = if !ldd.status.success() && stderr.contains("not a dynamic executable") {
        Vec::new()
    } else if !ldd.status.success() {
        return Err(Error::new(format!(
            "`ldd {}` failed: {}",
            exe.display(),
            stderr.trim()
        )));
    } else {
        parse_ldd(&stdout).map_err(Error::new)?
    };
    let mut files = vec![ImageFile {
        path: BINARY.to_string(),
        source: PathBuf::from("/proc/self/exe"),
    }];
    for library in libraries {
        files.push(ImageFile {
            path: library.display().to_string(),
            source: library,
        });
    }
    Ok(files)
}

/// A writer that hashes and counts what passes through.
struct Hashing<W: Write> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hash.update(&buf[..written]);
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(size);
    header
}

/// The layer: directories, then files, in path order. Its `sha256:…` (the diff ID) and size.
fn write_layer(files: &[ImageFile], to: &Path) -> Result<(String, u64)> {
    let file = File::create(to).with_path("write", to)?;
    let mut builder = tar::Builder::new(Hashing {
        inner: BufWriter::new(file),
        hash: Sha256::new(),
        bytes: 0,
    });
    let mut directories: BTreeSet<String> = BTreeSet::new();
    for file in files {
        let mut parent = Path::new(&file.path).parent();
        while let Some(dir) = parent.filter(|dir| *dir != Path::new("/")) {
            directories.insert(dir.display().to_string());
            parent = dir.parent();
        }
    }
    let fail = |error: io::Error| Error::io("write", to, &error);
    for dir in &directories {
        let mut head = header(tar::EntryType::Directory, 0o755, 0);
        builder
            .append_data(
                &mut head,
                format!("{}/", dir.trim_start_matches('/')),
                io::empty(),
            )
            .map_err(fail)?;
    }
    let mut tmp = header(tar::EntryType::Directory, 0o1777, 0);
    builder
        .append_data(&mut tmp, "tmp/", io::empty())
        .map_err(fail)?;
    let mut sorted: Vec<&ImageFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    for file in sorted {
        let source = File::open(&file.source).with_path("read", &file.source)?;
        let metadata = source.metadata().with_path("read", &file.source)?;
        let mode = std::os::unix::fs::PermissionsExt::mode(&metadata.permissions()) & 0o755;
        let mut head = header(tar::EntryType::Regular, mode | 0o444, metadata.len());
        builder
            .append_data(
                &mut head,
                file.path.trim_start_matches('/'),
                source.take(metadata.len()),
            )
            .map_err(|error| Error::io("copy into the image", &file.source, &error))?;
    }
    let hashing = builder.into_inner().map_err(fail)?;
    let bytes = hashing.bytes;
    let digest = hex::encode(hashing.hash.finalize());
    hashing
        .inner
        .into_inner()
        .map_err(|error| fail(error.into_error()))?
        .sync_all()
        .map_err(fail)?;
    Ok((digest, bytes))
}

/// The image config.
fn config(diff_id: &str, files: &[ImageFile], created: &str) -> serde_json::Value {
    let architecture = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        other => other,
    };
    let library_dirs: BTreeSet<String> = files
        .iter()
        .filter(|file| file.path != BINARY)
        .filter_map(|file| Path::new(&file.path).parent())
        .map(|dir| dir.display().to_string())
        .collect();
    let mut env = vec!["PATH=/usr/local/bin:/usr/bin:/bin".to_string()];
    if !library_dirs.is_empty() {
        env.push(format!(
            "LD_LIBRARY_PATH={}",
            library_dirs.into_iter().collect::<Vec<_>>().join(":")
        ));
    }
    json!({
        "architecture": architecture,
        "os": "linux",
        "created": created,
        "author": "stigfix nodes image",
        "config": {
            "Entrypoint": [BINARY],
            "Cmd": ["--help"],
            "Env": env,
            "WorkingDir": "/",
            "Labels": {
                LABEL: "1",
                "org.opencontainers.image.title": "stigfix",
                "org.opencontainers.image.version": env!("CARGO_PKG_VERSION")
            }
        },
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{diff_id}")] },
        "history": [{ "created": created, "created_by": "stigfix nodes image" }]
    })
}

fn append_bytes<W: Write>(
    builder: &mut tar::Builder<W>,
    path: &str,
    bytes: &[u8],
) -> io::Result<()> {
    let mut head = header(tar::EntryType::Regular, 0o644, bytes.len() as u64);
    builder.append_data(&mut head, path, bytes)
}

/// Write the image archive to `out` (atomically: a temporary file beside it, then renamed).
pub fn write(out: &Path, reference: &str, files: &[ImageFile], created: &str) -> Result<Built> {
    let dir = out
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let layer_path = dir.join(format!(".stigfix-layer-{}.tar", std::process::id()));
    let archive_path = dir.join(format!(".stigfix-image-{}.tar", std::process::id()));
    let result = (|| {
        let (diff_id, layer_bytes) = write_layer(files, &layer_path)?;
        let config =
            serde_json::to_vec(&config(&diff_id, files, created)).expect("configs serialise");
        let config_id = hex::encode(Sha256::digest(&config));
        let (name, tag) = reference.rsplit_once(':').unwrap_or((reference, "latest"));
        let manifest = json!([{
            "Config": format!("{config_id}.json"),
            "RepoTags": [reference],
            "Layers": [format!("{diff_id}/layer.tar")]
        }]);
        let legacy = json!({ "id": diff_id, "created": created, "os": "linux" });
        let repositories = json!({ name: { tag: diff_id } });
        let file = File::create(&archive_path).with_path("write", &archive_path)?;
        let mut builder = tar::Builder::new(BufWriter::new(file));
        let fail = |error: io::Error| Error::io("write", &archive_path, &error);
        let mut head = header(tar::EntryType::Directory, 0o755, 0);
        builder
            .append_data(&mut head, format!("{diff_id}/"), io::empty())
            .map_err(fail)?;
        append_bytes(&mut builder, &format!("{diff_id}/VERSION"), b"1.0").map_err(fail)?;
        append_bytes(
            &mut builder,
            &format!("{diff_id}/json"),
            legacy.to_string().as_bytes(),
        )
        .map_err(fail)?;
        let layer = File::open(&layer_path).with_path("read", &layer_path)?;
        let mut head = header(tar::EntryType::Regular, 0o644, layer_bytes);
        builder
            .append_data(
                &mut head,
                format!("{diff_id}/layer.tar"),
                layer.take(layer_bytes),
            )
            .map_err(fail)?;
        append_bytes(&mut builder, &format!("{config_id}.json"), &config).map_err(fail)?;
        append_bytes(
            &mut builder,
            "manifest.json",
            manifest.to_string().as_bytes(),
        )
        .map_err(fail)?;
        append_bytes(
            &mut builder,
            "repositories",
            repositories.to_string().as_bytes(),
        )
        .map_err(fail)?;
        let file = builder
            .into_inner()
            .map_err(fail)?
            .into_inner()
            .map_err(|error| fail(error.into_error()))?;
        file.sync_all().map_err(fail)?;
        let bytes = file.metadata().map_err(fail)?.len();
        std::fs::rename(&archive_path, out).with_path("write", out)?;
        Ok(Built {
            reference: reference.to_string(),
            id: format!("sha256:{config_id}"),
            files: files.len(),
            bytes,
        })
    })();
    let _ = std::fs::remove_file(&layer_path);
    if result.is_err() {
        let _ = std::fs::remove_file(&archive_path);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_gives_the_loader_and_libraries() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f70)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f6f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f71)\n";
        assert_eq!(
            parse_ldd(text).unwrap(),
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
        let error = parse_ldd("\tlibfoo.so.1 => not found\n").unwrap_err();
        assert!(error.contains("libfoo.so.1"), "{error}");
    }

    #[test]
    fn references_get_the_version_as_their_tag() {
        let version = env!("CARGO_PKG_VERSION");
        assert_eq!(reference(None).unwrap(), format!("stigfix:{version}"));
        assert_eq!(
            reference(Some("dtr.example.mil:443/admin/stigfix")).unwrap(),
            format!("dtr.example.mil:443/admin/stigfix:{version}")
        );
        assert_eq!(
            reference(Some("stigfix:nightly")).unwrap(),
            "stigfix:nightly"
        );
        assert!(reference(Some("Stigfix:1")).is_err());
        assert!(reference(Some("stigfix:bad tag")).is_err());
    }

    #[test]
    fn the_archive_is_what_docker_save_writes() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("bin");
        std::fs::write(&binary, b"#!binary").unwrap();
        let files = vec![ImageFile {
            path: BINARY.into(),
            source: binary,
        }];
        let out = dir.path().join("image.tar");
        let built = write(&out, "stigfix:test", &files, "2026-11-22T10:00:00Z").unwrap();
        let mut archive = tar::Archive::new(File::open(&out).unwrap());
        let mut names = Vec::new();
        let mut manifest = serde_json::Value::Null;
        let mut layer = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().display().to_string();
            if name == "manifest.json" {
                manifest = serde_json::from_reader(&mut entry).unwrap();
            } else if name.ends_with("layer.tar") {
                entry.read_to_end(&mut layer).unwrap();
            }
            names.push(name);
        }
        assert_eq!(manifest[0]["RepoTags"][0], "stigfix:test");
        assert_eq!(
            format!(
                "sha256:{}",
                manifest[0]["Config"]
                    .as_str()
                    .unwrap()
                    .trim_end_matches(".json")
            ),
            built.id
        );
        assert!(names.contains(&"repositories".to_string()), "{names:?}");
        let mut inner = tar::Archive::new(layer.as_slice());
        let inside: Vec<String> = inner
            .entries()
            .unwrap()
            .map(|entry| entry.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(
            inside,
            [
                "usr/",
                "usr/local/",
                "usr/local/bin/",
                "tmp/",
                "usr/local/bin/stigfix"
            ]
        );
        // Nothing is left beside the archive.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
