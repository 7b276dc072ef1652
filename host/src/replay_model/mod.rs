//! Mainline bcache's journal read rules, modelled on the host: which jsets of each journal
//! bucket `bch_journal_read()` finds ([`read`]) and which of them replay keeps, in what order
//! ([`replay`]). The module leaves both to bcache's C; the tool's `show-journal` and the
//! journal crash test use this model to say what replay will do with an NVDIMM journal.

pub mod read;
pub mod replay;
