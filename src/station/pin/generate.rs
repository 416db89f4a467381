//! Random PINs: alphabets and unbiased sampling from a cryptographic RNG.
use rand::RngCore;
use zeroize::{Zeroize, Zeroizing};

/// Characters of a digits-only PIN.
pub const DIGITS: &str = "0123456789";

/// Characters of an alphanumeric PIN: digits and capital letters without the look-alikes
/// `0 O`, `1 I L`. Capitals only, so that a PIN read from a slip or spoken at the desk
/// cannot be mistyped by case; 31 symbols give 4.95 bits per character.
pub const UNAMBIGUOUS_ALPHANUMERIC: &str = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// Uniform draws of indexes below `n` (1..=256) from a byte stream, by rejection:
/// bytes at or above the largest multiple of `n` that fits in a byte are thrown away,
/// so every index has exactly the same number of byte values mapping onto it.
pub struct IndexSampler<'r, R: RngCore> {
    rng: &'r mut R,
    buf: [u8; 32],
    pos: usize,
}

impl<'r, R: RngCore> IndexSampler<'r, R> {
    /// A sampler drawing from `rng` in 32-byte chunks.
    pub fn new(rng: &'r mut R) -> Self {
        IndexSampler { rng, buf: [0; 32], pos: 32 }
    }

    fn next_byte(&mut self) -> u8 {
        if self.pos == self.buf.len() {
            self.rng.fill_bytes(&mut self.buf);
            self.pos = 0;
        }
        let b = self.buf[self.pos];
        self.buf[self.pos] = 0;
        self.pos += 1;
        b
    }

    /// One index in `0..n`, every value equally likely.
    ///
    /// # Panics
    /// If `n` is 0 or above 256 (a programming error: alphabets are constants).
    pub fn index_below(&mut self, n: usize) -> usize {
        assert!((1..=256).contains(&n), "alphabet size {n} out of range");
        let limit = 256 - (256 % n);
        loop {
            let b = usize::from(self.next_byte());
            if b < limit {
                return b % n;
            }
        }
    }
}

impl<R: RngCore> Drop for IndexSampler<'_, R> {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

/// `len` characters drawn uniformly and independently from `alphabet` (ASCII only).
pub fn random_string<R: RngCore>(rng: &mut R, alphabet: &str, len: usize) -> Zeroizing<String> {
    let symbols = alphabet.as_bytes();
    let mut sampler = IndexSampler::new(rng);
    let mut out = Zeroizing::new(String::with_capacity(len));
    for _ in 0..len {
        out.push(char::from(symbols[sampler.index_below(symbols.len())]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    /// Replays fixed bytes, to show exactly which ones the sampler throws away.
    struct Scripted(Vec<u8>, usize);
    impl RngCore for Scripted {
        fn next_u32(&mut self) -> u32 {
            unimplemented!()
        }
        fn next_u64(&mut self) -> u64 {
            unimplemented!()
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            for d in dest {
                *d = self.0[self.1 % self.0.len()];
                self.1 += 1;
            }
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    #[test]
    fn bytes_above_the_last_full_multiple_are_rejected() {
        // 31 symbols: 256 % 31 = 8, so bytes 248..=255 are discarded.
        let mut rng = Scripted(vec![255, 248, 247, 31, 0], 0);
        let mut s = IndexSampler::new(&mut rng);
        assert_eq!(s.index_below(31), 247 % 31);
        assert_eq!(s.index_below(31), 0);
        assert_eq!(s.index_below(31), 0);
        // 10 symbols: 250..=255 are discarded.
        let mut rng = Scripted(vec![250, 255, 249], 0);
        assert_eq!(IndexSampler::new(&mut rng).index_below(10), 9);
    }

    #[test]
    fn alphabets_are_ascii_without_lookalikes() {
        for c in ['0', 'O', '1', 'I', 'L', 'o', 'l'] {
            assert!(!UNAMBIGUOUS_ALPHANUMERIC.contains(c), "{c} is ambiguous");
        }
        assert_eq!(UNAMBIGUOUS_ALPHANUMERIC.len(), 31);
        let mut sorted: Vec<char> = UNAMBIGUOUS_ALPHANUMERIC.chars().collect();
        sorted.dedup();
        assert_eq!(sorted.len(), 31);
    }

    /// Chi-squared goodness of fit. The 0.001 % critical values are about 37.9 (9
    /// degrees of freedom) and 71.8 (30 degrees of freedom).
    fn chi_squared(counts: &[u64], total: u64) -> f64 {
        let expected = total as f64 / counts.len() as f64;
        counts.iter().map(|&c| (c as f64 - expected).powi(2) / expected).sum()
    }

    #[test]
    fn digits_are_uniform_overall_and_at_every_position() {
        let n = 100_000u64;
        let len = 6;
        let mut counts = vec![vec![0u64; 10]; len];
        let mut all = vec![0u64; 10];
        for _ in 0..n {
            let s = random_string(&mut OsRng, DIGITS, len);
            for (i, c) in s.bytes().enumerate() {
                counts[i][usize::from(c - b'0')] += 1;
                all[usize::from(c - b'0')] += 1;
            }
        }
        for (i, c) in counts.iter().enumerate() {
            let x2 = chi_squared(c, n);
            assert!(x2 < 37.9, "position {i}: chi2 {x2:.1} {c:?}");
        }
        let x2 = chi_squared(&all, n * len as u64);
        assert!(x2 < 37.9, "all positions: chi2 {x2:.1} {all:?}");
    }

    #[test]
    fn the_modulo_shortcut_would_be_caught() {
        // Guard for the statistical test itself: folding bytes with `% 10` (values 0-5
        // get 26/256, 6-9 get 25/256) gives an expected chi2 of about 155 on a million
        // draws, far above the bound the real sampler must stay under.
        let n = 1_000_000usize;
        let mut bytes = vec![0u8; n];
        OsRng.fill_bytes(&mut bytes);
        let mut counts = vec![0u64; 10];
        for b in bytes {
            counts[usize::from(b) % 10] += 1;
        }
        assert!(chi_squared(&counts, n as u64) > 37.9);
    }

    #[test]
    fn alphanumeric_symbols_are_uniform() {
        let n = 31 * 2_000u64;
        let mut counts = vec![0u64; 31];
        for _ in 0..n / 8 {
            let s = random_string(&mut OsRng, UNAMBIGUOUS_ALPHANUMERIC, 8);
            for c in s.chars() {
                counts[UNAMBIGUOUS_ALPHANUMERIC.find(c).unwrap()] += 1;
            }
        }
        let x2 = chi_squared(&counts, n);
        assert!(x2 < 71.8, "chi2 {x2:.1} {counts:?}");
    }

}
