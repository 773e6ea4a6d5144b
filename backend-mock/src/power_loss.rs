//! What a power loss leaves behind.
//!
//! Every operation that was not made durable is recorded as [`Pending`]. At a
//! power loss each one independently survives or not, following the crash
//! model podns is built against:
//! - unsynced data can be lost, torn (a prefix survives), replaced by garbage,
//!   or leave the new size with a zero tail;
//! - any subset of unsynced creates, renames and unlinks survives, not only a
//!   prefix; a rename is atomic (old or new name, never neither);
//! - a file whose data was synced but whose entry was not can vanish;
//! - what is no longer reachable from a root is gone.

use crate::fs::{Ino, MockFs, Node};

/// A change to a directory entry that was not yet made durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryChange {
    /// `name` now refers to `ino`.
    Insert {
        /// The name.
        name: String,
        /// The inode.
        ino: Ino,
    },
    /// `name` was removed.
    Remove {
        /// The name.
        name: String,
    },
    /// `from` was renamed to `to`.
    Rename {
        /// The old name.
        from: String,
        /// The new name.
        to: String,
        /// The inode.
        ino: Ino,
    },
}

/// One operation that a power loss may or may not keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    /// A directory entry change in directory `dir`.
    Entry {
        /// The directory.
        dir: Ino,
        /// The change.
        change: EntryChange,
    },
    /// New data of file `file`.
    Data {
        /// The file.
        file: Ino,
    },
}

/// What becomes of one pending operation at a power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Survival {
    /// It reached the disk.
    Kept,
    /// It did not.
    Lost,
    /// Data only: the first `n` bytes of the new data reached the disk (a
    /// torn write); `n` is taken modulo the new length.
    Torn(usize),
    /// Data only: the new size reached the disk, the data did not (a zero
    /// tail).
    ZeroFilled,
    /// Data only: the blocks hold garbage derived from this value.
    Garbage(u64),
}

impl MockFs {
    /// The operations a power loss now could keep or lose, oldest first.
    pub fn pending(&self) -> &[Pending] {
        &self.pending
    }

    /// A power loss: `decide` chooses the fate of each pending operation (it
    /// is called once per operation, in order). Afterwards everything left is
    /// durable, as after a reboot.
    pub fn lose_power_with(&mut self, decide: &mut dyn FnMut(&Pending) -> Survival) {
        let pending = std::mem::take(&mut self.pending);
        let fates: Vec<Survival> = pending.iter().map(&mut *decide).collect();

        // Directories restart from their durable entries; surviving changes
        // are replayed in order.
        for node in self.nodes.values_mut() {
            if let Node::Dir {
                entries,
                durable_entries,
            } = node
            {
                entries.clone_from(durable_entries);
            }
        }
        for (op, fate) in pending.iter().zip(&fates) {
            let Pending::Entry { dir, change } = op else {
                continue;
            };
            if *fate == Survival::Lost {
                continue;
            }
            if let Some(Node::Dir { entries, .. }) = self.nodes.get_mut(dir) {
                match change {
                    EntryChange::Insert { name, ino } => {
                        entries.insert(name.clone(), *ino);
                    }
                    EntryChange::Remove { name } => {
                        entries.remove(name);
                    }
                    EntryChange::Rename { from, to, ino } => {
                        entries.remove(from);
                        entries.insert(to.clone(), *ino);
                    }
                }
            }
        }

        // Files restart from their durable data; pending data meets its fate.
        let mut new_data = std::collections::BTreeMap::new();
        for (op, fate) in pending.iter().zip(&fates) {
            if let Pending::Data { file } = op {
                new_data.insert(*file, *fate);
            }
        }
        for (ino, node) in self.nodes.iter_mut() {
            let Node::File { data, durable_data } = node else {
                continue;
            };
            let written = std::mem::take(data);
            *data = match new_data.get(ino) {
                None | Some(Survival::Lost) => durable_data.clone(),
                Some(Survival::Kept) => written,
                Some(Survival::Torn(n)) => {
                    let keep = if written.is_empty() {
                        0
                    } else {
                        n % written.len()
                    };
                    written[..keep].to_vec()
                }
                Some(Survival::ZeroFilled) => vec![0; written.len()],
                Some(Survival::Garbage(seed)) => garbage(*seed, written.len()),
            };
        }
        self.sync_all();
        self.collect_garbage();
    }
}

fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}
