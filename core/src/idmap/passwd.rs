//! The owner of a subordinate range, by name or by UID: shadow-utils matches
//! a subuid line whose first field is the user's name or the user's UID, so
//! finding a user's ranges needs the other half from `/etc/passwd`.
//!
//! Only the local file is read (the caller hands its bytes in); users known
//! only to NSS services such as LDAP are matched by the form given.

use super::number::parse_u32;

/// The UID `passwd` gives to `name`, if a line names it.
pub fn passwd_uid_of(passwd: &[u8], name: &str) -> Option<u32> {
    entries(passwd)
        .find(|(entry_name, _)| *entry_name == name)
        .map(|(_, uid)| uid)
}

/// The name of the first line of `passwd` with UID `uid`.
pub fn passwd_name_of(passwd: &[u8], uid: u32) -> Option<&str> {
    entries(passwd)
        .find(|(_, entry_uid)| *entry_uid == uid)
        .map(|(name, _)| name)
}

/// `(name, uid)` of every well-formed line: `name:password:uid:...`. Comments,
/// NIS compatibility lines (`+`, `-`) and malformed lines are skipped: they
/// name no local user.
fn entries(passwd: &[u8]) -> impl Iterator<Item = (&str, u32)> {
    passwd.split(|byte| *byte == b'\n').filter_map(|line| {
        let line = std::str::from_utf8(line).ok()?;
        if line.starts_with(['#', '+', '-']) {
            return None;
        }
        let mut fields = line.split(':');
        let name = fields.next().filter(|name| !name.is_empty())?;
        let _password = fields.next()?;
        let uid = parse_u32(fields.next()?.as_bytes()).ok()?;
        Some((name, uid))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/bash\n\
        # a comment:x:5:\n\
        +nisuser:x:7:\n\
        broken\n\
        negative:x:-1:0::/:/bin/false\n\
        huge:x:4294967296:0::/:/bin/false\n\
        kubelet:x:1000:1000::/home/kubelet:/bin/sh\n\
        alias:x:1000:1000::/:/bin/sh\n\
        \xff\xfe:x:9:9::/:/bin/sh\n";

    #[test]
    fn names_and_uids_resolve_both_ways() {
        assert_eq!(passwd_uid_of(PASSWD, "kubelet"), Some(1000));
        assert_eq!(passwd_uid_of(PASSWD, "root"), Some(0));
        // The first line with a UID names it.
        assert_eq!(passwd_name_of(PASSWD, 1000), Some("kubelet"));
        assert_eq!(passwd_name_of(PASSWD, 0), Some("root"));
    }

    #[test]
    fn lines_that_name_no_local_user_are_skipped() {
        for name in [
            "# a comment",
            "+nisuser",
            "nisuser",
            "broken",
            "negative",
            "huge",
        ] {
            assert_eq!(passwd_uid_of(PASSWD, name), None, "{name}");
        }
        assert_eq!(passwd_name_of(PASSWD, 5), None);
        assert_eq!(passwd_name_of(PASSWD, 7), None);
        assert_eq!(passwd_name_of(PASSWD, 9), None);
        assert_eq!(passwd_uid_of(b"", "root"), None);
    }
}
