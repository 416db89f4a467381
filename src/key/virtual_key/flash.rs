//! The virtual key's flash: a RAM image that OpenSK's own store (wasefire-store) runs
//! on, and the optional state file that keeps that image between processes.
//!
//! State file layout (little endian):
//! ```text
//!   0  8  magic "KSVKEY01"
//!   8  4  page size        12  4  page count
//!  16  1  serial length    17 63  serial (UTF-8, zero padded)
//!  80     flash image (page size × page count bytes)
//! ```
//! It is rewritten as a whole (temp file + rename, so a reader never sees a torn file)
//! after every CTAPHID message that changed the store, and a side lock file keeps two
//! processes from driving the same key at once.
use super::error::VirtualKeyError;
use crate::lockfile::{FileLock, LockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use wasefire_store::{BufferOptions, BufferStorage, Storage, StorageIndex};

/// OpenSK's reference geometry (its Nordic boards): 20 pages of 4 KiB, 4-byte words.
pub(crate) const PAGE_SIZE: usize = 0x1000;
pub(crate) const NUM_PAGES: usize = 20;
const WORD_SIZE: usize = 4;
const IMAGE_LEN: usize = PAGE_SIZE * NUM_PAGES;

const MAGIC: &[u8; 8] = b"KSVKEY01";
const HEADER_LEN: usize = 80;
const SERIAL_MAX: usize = 63;

/// Flash in RAM: wasefire's own buffer storage, with write and erase limits lifted (a
/// file or RAM does not wear out, which is what wasefire's file-backed storage does too)
/// and its strict mode (which panics on a violation) off.
pub(crate) type RamFlash = BufferStorage;

fn options() -> BufferOptions {
    BufferOptions {
        word_size: WORD_SIZE,
        page_size: PAGE_SIZE,
        // The store does arithmetic on this as a u32 and encodes erase cycles on 16 bits.
        max_word_writes: u32::MAX as usize,
        max_page_erases: u16::MAX as usize,
        strict_mode: false,
    }
}

/// A factory-fresh (fully erased) flash image.
pub(crate) fn erased_image() -> Vec<u8> {
    vec![0xFF; IMAGE_LEN]
}

/// A flash holding `image`, which must come from [`erased_image`] or [`flash_image`].
pub(crate) fn flash_from_image(image: Vec<u8>) -> RamFlash {
    debug_assert_eq!(image.len(), IMAGE_LEN);
    BufferStorage::new(image.into_boxed_slice(), options())
}

/// The whole flash content.
pub(crate) fn flash_image(flash: &RamFlash) -> Vec<u8> {
    let mut image = Vec::with_capacity(IMAGE_LEN);
    for page in 0..NUM_PAGES {
        // Reading whole, in-range pages cannot fail.
        if let Ok(bytes) = flash.read_slice(StorageIndex { page, byte: 0 }, PAGE_SIZE) {
            image.extend_from_slice(&bytes);
        }
    }
    image
}

/// The on-disk home of one virtual key, locked for this process.
pub(crate) struct StateFile {
    path: PathBuf,
    _lock: FileLock,
}

/// What a state file held.
pub(crate) struct SavedState {
    pub serial: String,
    pub image: Vec<u8>,
}

impl StateFile {
    /// Lock `path` for this process and read what it holds (`None` for a new key).
    pub fn open(path: &Path) -> Result<(StateFile, Option<SavedState>), VirtualKeyError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| VirtualKeyError::io(dir, &e))?;
        }
        let lock_path = lock_path(path);
        // A short wait covers a key of this process whose firmware is still shutting down.
        let lock = match FileLock::acquire(&lock_path, Duration::from_millis(500)) {
            Ok(lock) => lock,
            Err(LockError::Busy) => return Err(VirtualKeyError::StateInUse { path: path.to_path_buf() }),
            Err(LockError::Io(e)) => return Err(VirtualKeyError::io(&lock_path, &e)),
        };
        let saved = match std::fs::read(path) {
            Ok(bytes) => Some(parse(path, &bytes)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(VirtualKeyError::io(path, &e)),
        };
        tracing::debug!(state = %path.display(), lock = %lock.path().display(), existing = saved.is_some(), "virtual key state opened");
        Ok((StateFile { path: path.to_path_buf(), _lock: lock }, saved))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replace the file with this image (atomically: temp file, fsync, rename).
    pub fn save(&self, serial: &str, image: &[u8]) -> Result<(), VirtualKeyError> {
        let mut bytes = Vec::with_capacity(HEADER_LEN + image.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(PAGE_SIZE as u32).to_le_bytes());
        bytes.extend_from_slice(&(NUM_PAGES as u32).to_le_bytes());
        let serial = truncate_utf8(serial, SERIAL_MAX);
        bytes.push(serial.len() as u8);
        bytes.extend_from_slice(serial.as_bytes());
        bytes.resize(HEADER_LEN, 0);
        bytes.extend_from_slice(image);

        let tmp = self.path.with_extension(format!("tmp{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_data()?;
            drop(f);
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            VirtualKeyError::io(&self.path, &e)
        })
    }
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".lock");
    path.with_file_name(name)
}

fn parse(path: &Path, bytes: &[u8]) -> Result<SavedState, VirtualKeyError> {
    let corrupt = |reason: String| VirtualKeyError::StateCorrupt { path: path.to_path_buf(), reason };
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err(corrupt("it is not a keystation virtual-key state file".into()));
    }
    let word = |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
    let (page_size, pages) = (word(8), word(12));
    if page_size != PAGE_SIZE || pages != NUM_PAGES {
        return Err(corrupt(format!("flash geometry {pages}×{page_size} bytes, expected {NUM_PAGES}×{PAGE_SIZE}")));
    }
    if bytes.len() != HEADER_LEN + IMAGE_LEN {
        return Err(corrupt(format!("{} bytes long, expected {}", bytes.len(), HEADER_LEN + IMAGE_LEN)));
    }
    let serial_len = usize::from(bytes[16]).min(SERIAL_MAX);
    let serial = String::from_utf8(bytes[17..17 + serial_len].to_vec()).map_err(|_| corrupt("the serial number is not UTF-8".into()))?;
    Ok(SavedState { serial, image: bytes[HEADER_LEN..].to_vec() })
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_file_round_trip_and_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key-0.store");
        let (file, saved) = StateFile::open(&path).unwrap();
        assert!(saved.is_none());
        let mut image = erased_image();
        image[5] = 0x12;
        file.save("SERIAL-1", &image).unwrap();
        assert!(matches!(StateFile::open(&path), Err(VirtualKeyError::StateInUse { .. })));
        drop(file);
        let (_file, saved) = StateFile::open(&path).unwrap();
        let saved = saved.unwrap();
        assert_eq!(saved.serial, "SERIAL-1");
        assert_eq!(saved.image, image);
    }

    #[test]
    fn foreign_file_is_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key-0.store");
        std::fs::write(&path, b"hello").unwrap();
        let err = StateFile::open(&path).err().unwrap();
        assert!(err.to_string().contains("not a keystation virtual-key state file"), "{err}");
    }

    #[test]
    fn image_round_trip() {
        let mut image = erased_image();
        image[PAGE_SIZE + 3] = 0;
        assert_eq!(flash_image(&flash_from_image(image.clone())), image);
    }
}
