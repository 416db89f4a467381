//! Rules that make a PIN too easy to guess.
//!
//! A FIDO2 key allows 8 wrong PINs before it blocks, and usually 3 per power-up, so an
//! attacker holding a lost key gets a handful of guesses: the PINs people try first are
//! what matters, not the size of the space. The rules (see `docs/pin-handover.md`):
//!
//! 1. one character repeated (`000000`, `AAAA`);
//! 2. a constant step, wrapping around for digits (`1234`, `7890`, `2468`, `9753`, `ABCD`);
//! 3. a short block repeated (`1212`, `123123`, `12341234`);
//! 4. doubled characters (`1122`, `112233`);
//! 5. a mirror image (`1221`, `123321`);
//! 6. a list of PINs that top published frequency lists but slip through 1–5
//!    (keypad shapes like `2580`, `159753`, words like `PASSWORD`);
//! 7. for all-digit PINs: a year (4 digits, 1900–2099) or a calendar date
//!    (4 digits DDMM/MMDD, 6 digits DDMMYY/MMDDYY/YYMMDD, 8 digits DDMMYYYY/MMDDYYYY/YYYYMMDD).
//!    Birthdays and anniversaries are what people pick and what someone who knows them
//!    tries first. For random PINs the cost is small (about 0.13 bit for 6 digits,
//!    0.003 bit for 8 digits), so the same rules apply to both.
//!
//! Letters are compared without regard to case.
use std::fmt;

/// Why a PIN was judged too easy to guess. The description never contains the PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrivialReason {
    /// Every character is the same.
    SameCharacter,
    /// Characters go up or down by a constant step (`1234`, `7890`, `2468`).
    Sequence,
    /// A short block repeated (`1212`, `123123`).
    RepeatedPattern,
    /// Each character doubled (`1122`, `112233`).
    DoubledCharacters,
    /// Reads the same backwards (`1221`, `123321`).
    Mirrored,
    /// On a list of the most commonly chosen PINs.
    CommonPin,
    /// An all-digit PIN that reads as a calendar date.
    LooksLikeDate,
    /// A 4-digit PIN that reads as a year.
    LooksLikeYear,
}

impl TrivialReason {
    /// A short explanation for the user at the desk.
    pub fn describe(self) -> &'static str {
        match self {
            TrivialReason::SameCharacter => "it repeats one character",
            TrivialReason::Sequence => "it is a sequence like 1234 or 2468",
            TrivialReason::RepeatedPattern => "it repeats a short pattern like 1212",
            TrivialReason::DoubledCharacters => "it doubles each character like 112233",
            TrivialReason::Mirrored => "it reads the same backwards",
            TrivialReason::CommonPin => "it is one of the most commonly used PINs",
            TrivialReason::LooksLikeDate => "it looks like a date, such as a birthday",
            TrivialReason::LooksLikeYear => "it looks like a year",
        }
    }
}

impl fmt::Display for TrivialReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Common PINs that rules 1–5 and 7 do not already catch: keypad lines and shapes,
/// words and keyboard rows. Upper case.
const COMMON: &[&str] = &[
    "1004", "2580", "0852", "8520", "0258", "5683", "1379", "1397", "7410", "0147", "3690", "9630", "1470",
    "159753", "357951", "753951", "951357", "159357", "789456", "456789", "147258", "258369", "369258",
    "147852", "741852", "963852", "852963", "102030", "142536", "010203", "246810", "124578", "147896",
    "123654", "321654", "456123", "654123", "789123", "987456", "135790", "013579", "147369", "159951",
    "13572468", "24681357", "14725836", "12345679", "11235813", "31415926", "27182818",
    "PASS", "PASSWORD", "PASSWORD1", "PASSWORT", "QWERTY", "QWERTZ", "AZERTY", "ASDF", "ASDFGH", "ZXCV",
    "QWER", "QWERTYUI", "LETMEIN", "ADMIN", "SECRET", "WELCOME", "CHANGEME", "YUBIKEY", "ABC123",
    "ABCD1234", "QWER1234", "1Q2W3E4R", "1QAZ2WSX", "ZAQ12WSX", "IELOVE", "ILOVEYOU", "MONKEY", "DRAGON",
];

/// The first rule a PIN breaks, or `None` when it is fine.
pub fn check(pin: &str) -> Option<TrivialReason> {
    let s: Vec<char> = pin.chars().map(|c| c.to_ascii_uppercase()).collect();
    if s.is_empty() {
        return None;
    }
    if s.iter().all(|c| *c == s[0]) {
        return Some(TrivialReason::SameCharacter);
    }
    if is_constant_step(&s) {
        return Some(TrivialReason::Sequence);
    }
    if is_repeated_block(&s) {
        return Some(TrivialReason::RepeatedPattern);
    }
    if s.len() >= 4 && s.len().is_multiple_of(2) && s.chunks(2).all(|p| p[0] == p[1]) {
        return Some(TrivialReason::DoubledCharacters);
    }
    if s.len() >= 4 && s.iter().eq(s.iter().rev()) {
        return Some(TrivialReason::Mirrored);
    }
    let upper: String = s.iter().collect();
    if COMMON.contains(&upper.as_str()) {
        return Some(TrivialReason::CommonPin);
    }
    if s.iter().all(|c| c.is_ascii_digit()) {
        return digits_calendar(&s);
    }
    None
}

/// Position of a character in its class (digits mod 10, letters mod 26).
fn class_value(c: char) -> Option<(u8, i32)> {
    if c.is_ascii_digit() {
        Some((0, c as i32 - '0' as i32))
    } else if c.is_ascii_uppercase() {
        Some((1, c as i32 - 'A' as i32))
    } else {
        None
    }
}

fn is_constant_step(s: &[char]) -> bool {
    if s.len() < 3 {
        return false;
    }
    let Some(values) = s.iter().map(|c| class_value(*c)).collect::<Option<Vec<_>>>() else {
        return false;
    };
    let class = values[0].0;
    if values.iter().any(|v| v.0 != class) {
        return false;
    }
    let modulus = if class == 0 { 10 } else { 26 };
    let step = (values[1].1 - values[0].1).rem_euclid(modulus);
    values.windows(2).all(|w| (w[1].1 - w[0].1).rem_euclid(modulus) == step)
}

fn is_repeated_block(s: &[char]) -> bool {
    (1..=s.len() / 2).any(|p| s.len().is_multiple_of(p) && s.chunks(p).all(|chunk| chunk == &s[..p]))
}

fn number(d: &[char]) -> u32 {
    d.iter().fold(0, |acc, c| acc * 10 + (*c as u32 - '0' as u32))
}

fn valid_day_month(day: u32, month: u32) -> bool {
    let max = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 => 29,
        _ => return false,
    };
    (1..=max).contains(&day)
}

fn plausible_year(y: u32) -> bool {
    (1900..=2099).contains(&y)
}

fn digits_calendar(d: &[char]) -> Option<TrivialReason> {
    let date = |a: &[char], b: &[char]| valid_day_month(number(a), number(b));
    let hit = match d.len() {
        4 => {
            if plausible_year(number(d)) {
                return Some(TrivialReason::LooksLikeYear);
            }
            date(&d[0..2], &d[2..4]) || date(&d[2..4], &d[0..2])
        }
        // DDMMYY, MMDDYY, YYMMDD (any two-digit year).
        6 => date(&d[0..2], &d[2..4]) || date(&d[2..4], &d[0..2]) || date(&d[4..6], &d[2..4]),
        // DDMMYYYY, MMDDYYYY, YYYYMMDD.
        8 => {
            (plausible_year(number(&d[4..8])) && (date(&d[0..2], &d[2..4]) || date(&d[2..4], &d[0..2])))
                || (plausible_year(number(&d[0..4])) && date(&d[6..8], &d[4..6]))
        }
        _ => false,
    };
    hit.then_some(TrivialReason::LooksLikeDate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use TrivialReason::*;

    #[test]
    fn catches_the_classics() {
        let cases: &[(&str, TrivialReason)] = &[
            ("0000", SameCharacter),
            ("999999", SameCharacter),
            ("aaaa", SameCharacter),
            ("1234", Sequence),
            ("123456", Sequence),
            ("654321", Sequence),
            ("7890", Sequence),
            ("8901", Sequence),
            ("9012", Sequence),
            ("3210", Sequence),
            ("2109", Sequence),
            ("2468", Sequence),
            ("97531", Sequence),
            ("abcdef", Sequence),
            ("ZYXW", Sequence),
            ("1212", RepeatedPattern),
            ("123123", RepeatedPattern),
            ("12341234", RepeatedPattern),
            ("696969", RepeatedPattern),
            ("abab", RepeatedPattern),
            ("1122", DoubledCharacters),
            ("112233", DoubledCharacters),
            ("1221", Mirrored),
            ("123321", Mirrored),
            ("2580", CommonPin),
            ("159753", CommonPin),
            ("password", CommonPin),
            ("1985", LooksLikeYear),
            ("2024", LooksLikeYear),
            ("2512", LooksLikeDate),  // 25 Dec
            ("1225", LooksLikeDate),  // Dec 25
            ("250385", LooksLikeDate), // DDMMYY
            ("031585", LooksLikeDate), // MMDDYY
            ("850315", LooksLikeDate), // YYMMDD
            ("25031985", LooksLikeDate),
            ("03251985", LooksLikeDate),
            ("19850325", LooksLikeDate),
        ];
        for (pin, want) in cases {
            assert_eq!(check(pin), Some(*want), "{pin}");
        }
    }

    #[test]
    fn lets_ordinary_pins_through() {
        for pin in ["7392", "482913", "83920571", "K7M4Q9TX", "4829173", "9637", "739418", "73941826", "H7R2"] {
            assert_eq!(check(pin), None, "{pin}");
        }
    }

    #[test]
    fn impossible_dates_are_not_dates() {
        assert_eq!(check("3102"), None, "31 Feb does not exist and neither reading is a date"); // 31/02, 02/31
        assert_eq!(check("993102"), None);
        assert_eq!(check("30023001"), None, "30 Feb, year 3001");
    }

    #[test]
    fn rejection_rates_stay_small_for_random_digit_pins() {
        // Exhaustive over all 6-digit PINs: the rules must not eat a large part of the space.
        let rejected = (0..1_000_000u32).filter(|n| check(&format!("{n:06}")).is_some()).count();
        let share = rejected as f64 / 1e6;
        assert!(share < 0.12, "6-digit share rejected {share}");
        let rejected4 = (0..10_000u32).filter(|n| check(&format!("{n:04}")).is_some()).count();
        assert!((rejected4 as f64 / 1e4) < 0.15, "4-digit share rejected {rejected4}");
    }
}
