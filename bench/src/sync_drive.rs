//! Driving the engine synchronously against an instant, in-memory responder,
//! so a benchmark measures the core's decisions and nothing else.

use podns_core::{
    DirEntry, Effect, EffectError, EntryKind, Errno, IdMapping, Observation, Outcome, RelPath,
    UsernsEngine, UsernsError, UsernsRequest, UsernsResponse, render_userns_file,
};

use crate::fixtures::pod_name;

/// Runs `request` to completion, answering each effect with `answer`.
pub fn run(
    engine: &mut UsernsEngine,
    request: UsernsRequest,
    answer: &mut impl FnMut(&Effect) -> Outcome,
) -> Result<UsernsResponse, UsernsError> {
    engine.submit(request)?;
    while let Some(effect) = engine.poll_effect() {
        let outcome = answer(&effect);
        engine.handle_outcome(outcome);
    }
    engine
        .poll_completion()
        .expect("no effect left means the request is complete")
}

/// Answers every effect as a healthy disk whose pod directories all exist.
pub fn healthy_disk(effect: &Effect) -> Outcome {
    Ok(match effect {
        Effect::ListDir { .. } => Observation::Listing(Vec::new()),
        Effect::CreateDir { .. } => Observation::DirCreated { created: false },
        Effect::RemoveFile { .. } => Observation::FileRemoved { existed: true },
        _ => Observation::Done,
    })
}

/// A pods directory holding `count` pods with valid files, in slots
/// 0..count of kubelet's default pool.
#[derive(Debug, Clone)]
pub struct RecoveredDisk {
    root_listing: Vec<DirEntry>,
    pod_listing: Vec<DirEntry>,
    files: Vec<Vec<u8>>,
}

impl RecoveredDisk {
    /// `count` pods in slots 0..count of kubelet's default pool.
    pub fn new(count: u32) -> Self {
        Self {
            root_listing: (0..count)
                .map(|index| DirEntry {
                    name: pod_name(index),
                    kind: EntryKind::Directory,
                })
                .collect(),
            pod_listing: vec![DirEntry {
                name: "userns".into(),
                kind: EntryKind::File,
            }],
            files: (0..count)
                .map(|index| {
                    render_userns_file(IdMapping {
                        host_id: 65536 * (index + 1),
                        container_id: 0,
                        length: 65536,
                    })
                })
                .collect(),
        }
    }

    /// Every observation one recovery of this directory needs, built ahead so
    /// that answering moves a value and a benchmark times the core alone.
    pub fn observations(&self) -> PreparedObservations {
        PreparedObservations {
            root_listing: Some(self.root_listing.clone()),
            pod_listings: (0..self.files.len())
                .map(|_| Some(self.pod_listing.clone()))
                .collect(),
            files: self.files.iter().cloned().map(Some).collect(),
        }
    }
}

/// The observations of one recovery, each handed out once.
#[derive(Debug)]
pub struct PreparedObservations {
    root_listing: Option<Vec<DirEntry>>,
    pod_listings: Vec<Option<Vec<DirEntry>>>,
    files: Vec<Option<Vec<u8>>>,
}

impl PreparedObservations {
    /// The answer to one recovery effect. An effect asked twice, or for a pod
    /// that is not there, is answered "not found".
    pub fn answer(&mut self, effect: &Effect) -> Outcome {
        let taken = match effect {
            Effect::ListDir { dir } if dir.path.is_root() => {
                self.root_listing.take().map(Observation::Listing)
            }
            Effect::ListDir { dir } => pod_index(&dir.path)
                .and_then(|index| self.pod_listings.get_mut(index)?.take())
                .map(Observation::Listing),
            Effect::ReadFile { file, .. } => pod_index(&file.path)
                .and_then(|index| self.files.get_mut(index)?.take())
                .map(Observation::Contents),
            _ => Some(Observation::Done),
        };
        taken.ok_or_else(|| EffectError::new(Errno::ENOENT, "not prepared"))
    }
}

/// The slot index [`pod_name`] put at the end of the pod's directory name.
fn pod_index(path: &RelPath) -> Option<usize> {
    let pod = path.first_component()?;
    pod.get(pod.len().checked_sub(12)?..)?.parse().ok()
}
