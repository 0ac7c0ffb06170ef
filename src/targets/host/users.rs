//! User and group names of a host root, from ROOT/etc/passwd and ROOT/etc/group (never the
//! machine stigfix runs on).

use std::path::Path;

use super::fsroot::View;
use crate::error::Result;

#[derive(Clone, Debug, Default)]
pub struct Users {
    /// (name, uid, primary gid) in file order.
    users: Vec<(String, u32, u32)>,
    /// (name, gid) in file order.
    groups: Vec<(String, u32)>,
    pub passwd: String,
    pub group: String,
    /// Both files' text (for the fingerprint).
    pub text: String,
}

impl Users {
    pub fn read(view: &View<'_>) -> Result<Users> {
        let passwd = read_text(view, "/etc/passwd")?;
        let group = read_text(view, "/etc/group")?;
        let mut users = Users::parse(
            &passwd,
            &group,
            view.show(Path::new("/etc/passwd")),
            view.show(Path::new("/etc/group")),
        );
        users.text = format!("{passwd}\n--\n{group}");
        Ok(users)
    }

    pub fn parse(passwd: &str, group: &str, passwd_path: String, group_path: String) -> Users {
        let mut users = Vec::new();
        for line in passwd.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() >= 4
                && !fields[0].is_empty()
                && !line.starts_with('#')
                && let (Ok(uid), Ok(gid)) = (fields[2].parse(), fields[3].parse())
            {
                users.push((fields[0].to_string(), uid, gid));
            }
        }
        let mut groups = Vec::new();
        for line in group.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() >= 3
                && !fields[0].is_empty()
                && !line.starts_with('#')
                && let Ok(gid) = fields[2].parse()
            {
                groups.push((fields[0].to_string(), gid));
            }
        }
        Users {
            users,
            groups,
            passwd: passwd_path,
            group: group_path,
            text: String::new(),
        }
    }

    pub fn user_name(&self, uid: u32) -> String {
        self.users
            .iter()
            .find(|(_, id, _)| *id == uid)
            .map_or_else(|| format!("uid {uid}"), |(name, _, _)| name.clone())
    }

    pub fn group_name(&self, gid: u32) -> String {
        self.groups
            .iter()
            .find(|(_, id)| *id == gid)
            .map_or_else(|| format!("gid {gid}"), |(name, _)| name.clone())
    }

    pub fn uid(&self, name: &str) -> Option<u32> {
        self.users
            .iter()
            .find(|(user, _, _)| user == name)
            .map(|(_, uid, _)| *uid)
    }

    pub fn gid(&self, name: &str) -> Option<u32> {
        self.groups
            .iter()
            .find(|(group, _)| group == name)
            .map(|(_, gid)| *gid)
    }

    /// The ids new files and directories get: those of `root` in the root's files, else 0.
    pub fn root_ids(&self) -> (u32, u32) {
        let uid = self.uid("root").unwrap_or(0);
        let gid = self
            .gid("root")
            .or_else(|| {
                self.users
                    .iter()
                    .find(|(name, _, _)| name == "root")
                    .map(|(_, _, gid)| *gid)
            })
            .unwrap_or(0);
        (uid, gid)
    }

    /// Why a user name cannot be used, if it cannot.
    pub fn check_user(&self, name: &str) -> Result<u32, String> {
        self.uid(name).ok_or_else(|| {
            format!(
                "user `{name}` does not exist in {}: create it on the node first",
                self.passwd
            )
        })
    }

    pub fn check_group(&self, name: &str) -> Result<u32, String> {
        self.gid(name).ok_or_else(|| {
            format!(
                "group `{name}` does not exist in {}: create it on the node first",
                self.group
            )
        })
    }
}

fn read_text(view: &View<'_>, path: &str) -> Result<String> {
    let resolved = view.resolve(Path::new(path), true)?;
    if resolved.stat.is_none() {
        return Ok(String::new());
    }
    let bytes = view.read(&resolved.rel)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids() {
        let users = Users::parse(
            "root:x:0:0:root:/root:/bin/bash\nalice:x:1001:1001::/home/alice:/bin/sh\n",
            "root:x:0:\ndocker:x:998:alice\n",
            "R/etc/passwd".into(),
            "R/etc/group".into(),
        );
        assert_eq!(users.user_name(1001), "alice");
        assert_eq!(users.user_name(1234), "uid 1234");
        assert_eq!(users.group_name(998), "docker");
        assert_eq!(users.group_name(5), "gid 5");
        assert_eq!(users.root_ids(), (0, 0));
        assert_eq!(
            users.check_group("wheel").unwrap_err(),
            "group `wheel` does not exist in R/etc/group: create it on the node first"
        );
    }
}
