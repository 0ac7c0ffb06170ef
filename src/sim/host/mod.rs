//! Fake Docker Engine node roots for tests and the demo: real files, directories, symlinks and
//! a real unix socket under a directory, laid out like the nodes admins have:
//!
//! | builder | installation | where its files come from |
//! |---|---|---|
//! | [`ubuntu_node`], [`compliant_node`] | docker-ce / Mirantis Container Runtime `.deb` | moby's `contrib/init/systemd` units (docs/reference/api-facts.md §4.2) under `lib/systemd/system`, moby's sysvinit `docker.default` |
//! | [`rhel_node`] | an old docker RPM | moby's `docker.service.rpm` (`ExecStart=/usr/bin/dockerd`, docs/reference/api-facts.md §4.2) |
//! | [`docker_ce_rpm_node`] | docker-ce / MCR `.rpm` | moby's units under `usr/lib/systemd/system` |
//! | [`debian_docker_io_node`] | Debian/Ubuntu `docker.io` | Debian 12's `docker.io_20.10.24+dfsg1-1+deb12u1+b6_amd64.deb`, extracted with `dpkg-deb -x`: `lib/systemd/system/docker.{service,socket}` and `etc/default/docker` byte for byte, modes as `dpkg-deb -c` lists them, `dockerd` in `usr/sbin` |
//! | [`rhel_docker_node`] | RHEL/CentOS 7 Extras `docker` 1.13 | its `docker.service` (`EnvironmentFile=-/etc/sysconfig/docker`, `$OPTIONS`) and `/etc/sysconfig/docker` (`OPTIONS='…'`, the `if [ -z "${DOCKER_CERT_PATH}" ]` block), as `cat` shows them on such nodes (the RPM is not reachable here) |
//!
//! When the process runs as root, files get the owners a real node would have (root, alice,
//! group docker). Otherwise the names root, alice and docker are mapped to the current user
//! and group (docker to a second group of the user when it has one), so the demo works
//! unprivileged.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

mod files;

pub use files::{
    DEBIAN_DOCKER_IO_DEFAULT, DEBIAN_DOCKER_IO_SERVICE, DEBIAN_DOCKER_IO_SOCKET,
    RHEL_DOCKER_SERVICE, RHEL_SYSCONFIG_DOCKER, RPM_SERVICE, UPSTREAM_SERVICE, UPSTREAM_SOCKET,
};
use files::{DEFAULT_DOCKER, OVERRIDE_TCP};

/// The kind of a file system object in [`tree`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Socket,
    Other,
}

/// One object under a root, for byte-for-byte comparisons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: EntryKind,
    pub uid: u32,
    pub gid: u32,
    /// Permission bits including setuid, setgid and sticky.
    pub mode: u32,
    /// Contents of regular files.
    pub bytes: Option<Vec<u8>>,
    /// Target of symlinks.
    pub target: Option<PathBuf>,
}

/// Every object under `root` (not following symlinks), keyed by its path relative to `root`.
pub fn tree(root: &Path) -> io::Result<BTreeMap<PathBuf, Entry>> {
    let mut entries = BTreeMap::new();
    walk(root, Path::new(""), &mut entries)?;
    Ok(entries)
}

fn walk(root: &Path, rel: &Path, entries: &mut BTreeMap<PathBuf, Entry>) -> io::Result<()> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut names: Vec<_> = fs::read_dir(root.join(rel))?
        .map(|entry| entry.map(|entry| entry.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort();
    for name in names {
        let child = rel.join(&name);
        let path = root.join(&child);
        let metadata = fs::symlink_metadata(&path)?;
        let file_type = metadata.file_type();
        let kind = if file_type.is_symlink() {
            EntryKind::Symlink
        } else if file_type.is_dir() {
            EntryKind::Dir
        } else if file_type.is_file() {
            EntryKind::File
        } else if file_type.is_socket() {
            EntryKind::Socket
        } else {
            EntryKind::Other
        };
        entries.insert(
            child.clone(),
            Entry {
                kind,
                uid: metadata.uid(),
                gid: metadata.gid(),
                mode: metadata.mode() & 0o7777,
                bytes: if kind == EntryKind::File {
                    Some(fs::read(&path)?)
                } else {
                    None
                },
                target: if kind == EntryKind::Symlink {
                    Some(fs::read_link(&path)?)
                } else {
                    None
                },
            },
        );
        if kind == EntryKind::Dir {
            walk(root, &child, entries)?;
        }
    }
    Ok(())
}

/// The ids the names of a fake node stand for.
#[derive(Clone, Copy, Debug)]
struct Ids {
    root: (u32, u32),
    alice: (u32, u32),
    docker_gid: u32,
}

impl Ids {
    fn probe(root: &Path) -> io::Result<Ids> {
        use std::os::unix::fs::MetadataExt;
        let probe = root.join(format!(".stigfix-sim-probe-{}", std::process::id()));
        fs::write(&probe, b"")?;
        let metadata = fs::metadata(&probe)?;
        fs::remove_file(&probe)?;
        let (uid, gid) = (metadata.uid(), metadata.gid());
        if uid == 0 {
            return Ok(Ids {
                root: (0, 0),
                alice: (1001, 1001),
                docker_gid: 998,
            });
        }
        // Unprivileged: a second group of this process stands for `docker` when there is one.
        let docker_gid = fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                status.lines().find_map(|line| {
                    line.strip_prefix("Groups:").and_then(|groups| {
                        groups
                            .split_whitespace()
                            .filter_map(|group| group.parse::<u32>().ok())
                            .find(|group| *group != gid)
                    })
                })
            })
            .unwrap_or(gid);
        Ok(Ids {
            root: (uid, gid),
            alice: (uid, gid),
            docker_gid,
        })
    }

    fn passwd(&self) -> String {
        format!(
            "root:x:{}:{}:root:/root:/bin/bash\n\
             daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
             alice:x:{}:{}:Alice Admin,,,:/home/alice:/bin/bash\n",
            self.root.0, self.root.1, self.alice.0, self.alice.1
        )
    }

    fn group(&self) -> String {
        format!(
            "root:x:{}:\ndaemon:x:1:\ndocker:x:{}:alice\nalice:x:{}:\n",
            self.root.1, self.docker_gid, self.alice.1
        )
    }
}

struct Builder<'a> {
    root: &'a Path,
    ids: Ids,
}

impl<'a> Builder<'a> {
    /// The root created, its ids probed, and the files every node has (passwd, group, …).
    fn start(root: &'a Path) -> io::Result<Builder<'a>> {
        fs::create_dir_all(root)?;
        let builder = Builder {
            root,
            ids: Ids::probe(root)?,
        };
        builder.base()?;
        Ok(builder)
    }

    /// The Debian layout of the packaged units under lib/systemd/system, docker.service with
    /// `service_mode`.
    fn debian_units(&self, service_mode: u32) -> io::Result<()> {
        let root = self.ids.root;
        self.dir("lib", 0o755, root)?;
        self.dir("lib/systemd/system", 0o755, root)?;
        self.file(
            "lib/systemd/system/docker.service",
            UPSTREAM_SERVICE,
            service_mode,
            root,
        )?;
        self.file(
            "lib/systemd/system/docker.socket",
            UPSTREAM_SOCKET,
            0o644,
            root,
        )?;
        self.dir("etc/systemd/system/docker.service.d", 0o755, root)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn own(&self, path: &Path, (uid, gid): (u32, u32)) -> io::Result<()> {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))
    }

    fn dir(&self, rel: &str, mode: u32, owner: (u32, u32)) -> io::Result<()> {
        let path = self.path(rel);
        if let Some(parent) = Path::new(rel).parent()
            && !parent.as_os_str().is_empty()
            && !self.path(&parent.to_string_lossy()).exists()
        {
            self.dir(&parent.to_string_lossy(), 0o755, self.ids.root)?;
        }
        if !path.is_dir() {
            fs::create_dir(&path)?;
        }
        self.own(&path, owner)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))
    }

    fn parent(&self, rel: &str) -> io::Result<()> {
        if let Some(parent) = Path::new(rel).parent()
            && !parent.as_os_str().is_empty()
            && !self.path(&parent.to_string_lossy()).exists()
        {
            self.dir(&parent.to_string_lossy(), 0o755, self.ids.root)?;
        }
        Ok(())
    }

    fn file(&self, rel: &str, text: &str, mode: u32, owner: (u32, u32)) -> io::Result<()> {
        self.parent(rel)?;
        let path = self.path(rel);
        fs::write(&path, text)?;
        self.own(&path, owner)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))
    }

    fn link(&self, rel: &str, target: &str) -> io::Result<()> {
        self.parent(rel)?;
        let path = self.path(rel);
        symlink(target, &path)?;
        self.own(&path, self.ids.root)
    }

    fn socket(&self, rel: &str, mode: u32, owner: (u32, u32)) -> io::Result<()> {
        self.parent(rel)?;
        let path = self.path(rel);
        // The listener is dropped at once; the socket file stays.
        drop(UnixListener::bind(&path)?);
        self.own(&path, owner)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))
    }

    fn base(&self) -> io::Result<()> {
        let root = self.ids.root;
        for dir in [
            "etc",
            "run",
            "var",
            "usr",
            "usr/bin",
            "etc/systemd",
            "etc/systemd/system",
        ] {
            self.dir(dir, 0o755, root)?;
        }
        self.file("etc/passwd", &self.ids.passwd(), 0o644, root)?;
        self.file("etc/group", &self.ids.group(), 0o644, root)?;
        self.file("usr/bin/dockerd", "#!/bin/sh\n# placeholder\n", 0o755, root)
    }
}

fn pem(label: &str, body: &str) -> String {
    format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
}

fn tls_files(builder: &Builder<'_>, compliant: bool) -> io::Result<()> {
    let root = builder.ids.root;
    builder.dir("etc/docker/tls", 0o755, root)?;
    let (cert_mode, key_mode, key_owner) = if compliant {
        (0o444, 0o400, root)
    } else {
        (0o644, 0o644, builder.ids.alice)
    };
    builder.file(
        "etc/docker/tls/ca.pem",
        &pem("CERTIFICATE", "ZmFrZSBDQSBmb3IgdGVzdHM="),
        cert_mode,
        root,
    )?;
    builder.file(
        "etc/docker/tls/server-cert.pem",
        &pem("CERTIFICATE", "ZmFrZSBzZXJ2ZXIgY2VydA=="),
        cert_mode,
        root,
    )?;
    builder.file(
        "etc/docker/tls/server-key.pem",
        &pem("PRIVATE KEY", "ZmFrZSBrZXksIG5vdCBhIHNlY3JldA=="),
        key_mode,
        key_owner,
    )?;
    builder.dir("etc/docker/certs.d", 0o755, root)?;
    builder.dir("etc/docker/certs.d/dtr.example.mil", 0o755, root)?;
    builder.file(
        "etc/docker/certs.d/dtr.example.mil/ca.crt",
        &pem("CERTIFICATE", "ZmFrZSByZWdpc3RyeSBDQQ=="),
        if compliant { 0o444 } else { 0o644 },
        root,
    )
}

/// A Debian/Ubuntu node with the usual findings: a TCP listener added by an override
/// drop-in, an insecure registry, loose modes, a TLS key owned by alice, a socket of group
/// root, no FIPS.
pub fn ubuntu_node(root: &Path) -> io::Result<()> {
    let builder = Builder::start(root)?;
    let ids = builder.ids;
    builder.debian_units(0o664)?;
    builder.file(
        "etc/systemd/system/docker.service.d/override.conf",
        OVERRIDE_TCP,
        0o644,
        ids.root,
    )?;
    builder.dir("etc/docker", 0o775, ids.root)?;
    builder.file(
        "etc/docker/daemon.json",
        "{\n  \"log-driver\": \"journald\",\n  \"insecure-registries\": [\"registry.local:5000\"],\n  \"tlscacert\": \"/etc/docker/tls/ca.pem\",\n  \"tlscert\": \"/etc/docker/tls/server-cert.pem\",\n  \"tlskey\": \"/etc/docker/tls/server-key.pem\",\n  \"tlsverify\": true\n}\n",
        0o644,
        ids.root,
    )?;
    tls_files(&builder, false)?;
    builder.dir("etc/default", 0o755, ids.root)?;
    builder.file("etc/default/docker", DEFAULT_DOCKER, 0o666, ids.root)?;
    builder.link("var/run", "/run")?;
    builder.socket("run/docker.sock", 0o666, ids.root)
}

/// A RHEL node: the old RPM unit (`ExecStart=/usr/bin/dockerd`, no -H), listeners in
/// daemon.json including a TCP one, no /etc/default/docker, no drop-ins, a few wrong modes.
pub fn rhel_node(root: &Path) -> io::Result<()> {
    let builder = Builder::start(root)?;
    let ids = builder.ids;
    builder.dir("usr/lib", 0o755, ids.root)?;
    builder.dir("usr/lib/systemd/system", 0o755, ids.root)?;
    builder.file(
        "usr/lib/systemd/system/docker.service",
        RPM_SERVICE,
        0o644,
        ids.root,
    )?;
    builder.dir("etc/docker", 0o777, ids.root)?;
    builder.file(
        "etc/docker/daemon.json",
        "{\n  \"hosts\": [\"unix:///var/run/docker.sock\", \"tcp://0.0.0.0:2376\"],\n  \"selinux-enabled\": true\n}\n",
        0o664,
        ids.root,
    )?;
    builder.link("var/run", "../run")?;
    builder.socket("run/docker.sock", 0o660, (ids.root.0, ids.docker_gid))
}

/// An Ubuntu node that already meets the host rules: no TCP listener, no insecure
/// registries, DOCKER_FIPS=1, strict owners and modes.
pub fn compliant_node(root: &Path) -> io::Result<()> {
    let builder = Builder::start(root)?;
    let ids = builder.ids;
    builder.debian_units(0o644)?;
    builder.file(
        "etc/systemd/system/docker.service.d/fips-module.conf",
        "[Service]\nEnvironment=\"DOCKER_FIPS=1\"\n",
        0o644,
        ids.root,
    )?;
    builder.dir("etc/docker", 0o755, ids.root)?;
    builder.file(
        "etc/docker/daemon.json",
        "{\n  \"log-driver\": \"journald\",\n  \"insecure-registries\": [],\n  \"tlscacert\": \"/etc/docker/tls/ca.pem\",\n  \"tlscert\": \"/etc/docker/tls/server-cert.pem\",\n  \"tlskey\": \"/etc/docker/tls/server-key.pem\",\n  \"tlsverify\": true\n}\n",
        0o644,
        ids.root,
    )?;
    tls_files(&builder, true)?;
    builder.dir("etc/default", 0o755, ids.root)?;
    builder.file("etc/default/docker", DEFAULT_DOCKER, 0o644, ids.root)?;
    builder.link("var/run", "/run")?;
    builder.socket("run/docker.sock", 0o660, (ids.root.0, ids.docker_gid))
}

/// A Debian or Ubuntu node with Debian's `docker.io` package as shipped: the unit reads
/// `EnvironmentFile=-/etc/default/docker` and passes `$DOCKER_OPTS`; docker.socket listens on
/// /run/docker.sock; `dockerd` is in /usr/sbin; no daemon.json; `/etc/docker` empty.
pub fn debian_docker_io_node(root: &Path) -> io::Result<()> {
    let builder = Builder::start(root)?;
    let ids = builder.ids;
    fs::remove_file(builder.path("usr/bin/dockerd"))?;
    builder.dir("usr/sbin", 0o755, ids.root)?;
    builder.file(
        "usr/sbin/dockerd",
        "#!/bin/sh\n# placeholder\n",
        0o755,
        ids.root,
    )?;
    builder.dir("lib/systemd/system", 0o755, ids.root)?;
    builder.file(
        "lib/systemd/system/docker.service",
        DEBIAN_DOCKER_IO_SERVICE,
        0o644,
        ids.root,
    )?;
    builder.file(
        "lib/systemd/system/docker.socket",
        DEBIAN_DOCKER_IO_SOCKET,
        0o644,
        ids.root,
    )?;
    builder.dir("etc/docker", 0o755, ids.root)?;
    builder.dir("etc/default", 0o755, ids.root)?;
    builder.file(
        "etc/default/docker",
        DEBIAN_DOCKER_IO_DEFAULT,
        0o644,
        ids.root,
    )?;
    builder.link("var/run", "/run")?;
    builder.socket("run/docker.sock", 0o660, (ids.root.0, ids.docker_gid))
}

/// A RHEL/CentOS 7 node with the Extras `docker` 1.13 package: `/etc/sysconfig/docker` sets
/// `OPTIONS`, which the unit passes as `$OPTIONS`; no docker.socket; daemon.json `{}`.
pub fn rhel_docker_node(root: &Path) -> io::Result<()> {
    let builder = Builder::start(root)?;
    let ids = builder.ids;
    fs::rename(
        builder.path("usr/bin/dockerd"),
        builder.path("usr/bin/dockerd-current"),
    )?;
    builder.dir("usr/lib/systemd/system", 0o755, ids.root)?;
    builder.file(
        "usr/lib/systemd/system/docker.service",
        RHEL_DOCKER_SERVICE,
        0o644,
        ids.root,
    )?;
    builder.dir("etc/sysconfig", 0o755, ids.root)?;
    builder.file(
        "etc/sysconfig/docker",
        RHEL_SYSCONFIG_DOCKER,
        0o644,
        ids.root,
    )?;
    builder.file(
        "etc/sysconfig/docker-storage",
        "DOCKER_STORAGE_OPTIONS=\"--storage-driver overlay2\"\n",
        0o644,
        ids.root,
    )?;
    builder.file(
        "etc/sysconfig/docker-network",
        "# /etc/sysconfig/docker-network\nDOCKER_NETWORK_OPTIONS=\n",
        0o644,
        ids.root,
    )?;
    builder.dir("etc/docker", 0o755, ids.root)?;
    builder.file("etc/docker/daemon.json", "{}\n", 0o644, ids.root)?;
    builder.link("var/run", "../run")?;
    builder.socket("run/docker.sock", 0o660, (ids.root.0, ids.docker_gid))
}

/// A RHEL/CentOS node with docker-ce (or Mirantis Container Runtime) from its RPM: moby's
/// units under /usr/lib/systemd/system, daemon.json with the log settings, no environment
/// files.
pub fn docker_ce_rpm_node(root: &Path) -> io::Result<()> {
    let builder = Builder::start(root)?;
    let ids = builder.ids;
    builder.dir("usr/lib/systemd/system", 0o755, ids.root)?;
    builder.file(
        "usr/lib/systemd/system/docker.service",
        UPSTREAM_SERVICE,
        0o644,
        ids.root,
    )?;
    builder.file(
        "usr/lib/systemd/system/docker.socket",
        UPSTREAM_SOCKET,
        0o644,
        ids.root,
    )?;
    builder.dir("etc/docker", 0o755, ids.root)?;
    builder.file(
        "etc/docker/daemon.json",
        "{\n  \"log-driver\": \"journald\",\n  \"selinux-enabled\": true\n}\n",
        0o644,
        ids.root,
    )?;
    builder.link("var/run", "../run")?;
    builder.socket("run/docker.sock", 0o660, (ids.root.0, ids.docker_gid))
}
