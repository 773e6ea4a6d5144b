//! How an effect reads in logs, traces and snapshots: one line each.

use super::Effect;
use crate::path::{Root, RootLabels, RootPath};

impl Effect {
    /// One line: the effect's name, its paths (named with `labels`) and its
    /// parameters; file contents are shown as text when they are UTF-8.
    pub fn describe(&self, labels: &RootLabels) -> String {
        let show = |path: &RootPath| labels.show(path);
        match self {
            Effect::ListDir { dir } => format!("list-dir {}", show(dir)),
            Effect::ReadFile { file, max_len } => format!("read-file {} max={max_len}", show(file)),
            Effect::CreateDir { dir, mode } => format!("create-dir {} mode={mode:o}", show(dir)),
            Effect::WriteNewFile {
                file,
                mode,
                contents,
            } => match std::str::from_utf8(contents) {
                Ok(text) => format!("write-new-file {} mode={mode:o} {text}", show(file)),
                Err(_) => format!(
                    "write-new-file {} mode={mode:o} ({} bytes)",
                    show(file),
                    contents.len()
                ),
            },
            Effect::SyncFile { file } => format!("sync-file {}", show(file)),
            Effect::Rename { from, to } => format!("rename {} -> {}", show(from), show(to)),
            Effect::SyncDir { dir } => format!("sync-dir {}", show(dir)),
            Effect::RemoveFile { file } => format!("remove-file {}", show(file)),
            Effect::RemoveDir { dir } => format!("remove-dir {}", show(dir)),
            Effect::SyncFs { root } => format!("sync-fs {}", show(&RootPath::root(*root))),
            Effect::StatBeneath { path } => format!("stat-beneath {}", show(path)),
            Effect::StatNoFollow { path } => format!("stat-no-follow {}", show(path)),
            Effect::MakeDirBeneath { dir, mode } => {
                format!("make-dir-beneath {} mode={mode:o}", show(dir))
            }
            Effect::CreateEmptyFile { file, mode } => {
                format!("create-empty-file {} mode={mode:o}", show(file))
            }
            Effect::BindMount {
                source,
                target,
                expect,
                idmap,
            } => {
                let plain = format!(
                    "bind-mount {} -> {} expect={expect}",
                    show(source),
                    show(target)
                );
                match idmap {
                    None => plain,
                    Some(with) => format!("{plain} idmap={}@{}", with.userns, show(&with.pin)),
                }
            }
            Effect::Unmount { target } => format!("unmount {}", show(target)),
            Effect::ReadMountInfo => "read-mount-info".to_owned(),
            Effect::SetUpRunDir => {
                format!("set-up-run-dir {}", show(&RootPath::root(Root::Run)))
            }
            Effect::CreatePinFile { file } => format!("create-pin-file {}", show(file)),
            Effect::CreatePodNamespaces {
                pod,
                uid_map,
                gid_map,
                net_pin,
                user_pin,
            } => format!(
                "create-pod-namespaces {pod} net={} user={} uid_map=[{}] gid_map=[{}]",
                show(net_pin),
                show(user_pin),
                uid_map.one_line(),
                gid_map.one_line()
            ),
            Effect::InspectPodNamespaces { net_pin, user_pin } => format!(
                "inspect-pod-namespaces net={} user={}",
                show(net_pin),
                show(user_pin)
            ),
            Effect::DetachMount { target } => format!("detach-mount {}", show(target)),
        }
    }
}

impl std::fmt::Display for Effect {
    /// [`Effect::describe`] with unlabelled roots.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe(&RootLabels::new()))
    }
}
