//! Driving the engine synchronously against an instant, in-memory responder,
//! so a benchmark measures the core's decisions and nothing else.

use podns_core::{
    DirEntry, Effect, EntryKind, IdMapping, Observation, OperationError, Outcome, Request,
    Response, UsernsEngine, render_userns_file,
};

use crate::fixtures::pod_name;

/// Runs `request` to completion, answering each effect with `answer`.
pub fn run(
    engine: &mut UsernsEngine,
    request: Request,
    answer: &mut impl FnMut(&Effect) -> Outcome,
) -> Result<Response, OperationError> {
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

/// The observations of a pods directory holding `count` pods with valid
/// files, prepared once so answering costs a clone.
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

    /// The answer to one recovery effect.
    pub fn answer(&self, effect: &Effect) -> Outcome {
        Ok(match effect {
            Effect::ListDir { dir } if dir.path.is_root() => {
                Observation::Listing(self.root_listing.clone())
            }
            Effect::ListDir { .. } => Observation::Listing(self.pod_listing.clone()),
            Effect::ReadFile { file, .. } => {
                let pod = &file.path.components()[0];
                let index: usize = pod[pod.len() - 12..].parse().unwrap_or(0);
                Observation::Contents(self.files[index].clone())
            }
            _ => Observation::Done,
        })
    }
}
