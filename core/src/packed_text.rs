//! Text in fewer bytes than UTF-8, for values that must fit a size limit (a list cursor carries a
//! sort value: a 200-character name of 4-byte characters is 800 bytes of UTF-8, 575 here). Each
//! scalar value takes a prefix code of 8, 13, 19 or 23 bits by size where UTF-8 takes 8, 16, 24 or
//! 32: UTF-8 repeats a marker in every continuation byte, this says the size once.

/// The code of each size: (largest value + 1, its prefix and the prefix's bits, the value's bits).
const CODES: [(u32, u32, u32, u32); 4] =
    [(0x80, 0b0, 1, 7), (0x800, 0b10, 2, 11), (0x1_0000, 0b110, 3, 16), (0x11_0000, 0b111, 3, 20)];
/// Values of the largest size are stored less this, so that they fit its 20 bits.
const SUPPLEMENTARY: u32 = 0x1_0000;

/// Appends `text` to `out`: its number of scalar values (LEB128), then their codes, padded to a byte.
pub fn push(out: &mut Vec<u8>, text: &str) {
    push_number(out, text.chars().count() as u64);
    let mut bits = Bits { out, pending: 0, count: 0 };
    for char in text.chars() {
        let value = u32::from(char);
        let (end, prefix, prefix_bits, value_bits) =
            *CODES.iter().find(|(end, ..)| value < *end).expect("every scalar value is below 0x110000");
        let value = if end == 0x11_0000 { value - SUPPLEMENTARY } else { value };
        bits.push(prefix, prefix_bits);
        bits.push(value, value_bits);
    }
    bits.flush();
}

/// Reads a text that [`push`] wrote from the front of `input` and moves `input` past it; `None` if
/// `input` does not start with one.
pub fn take(input: &mut &[u8]) -> Option<String> {
    let count = usize::try_from(take_number(input)?).ok()?;
    // Each value takes at least 8 bits: a count larger than what is left is not a text of ours.
    if count > input.len() {
        return None;
    }
    let mut bits = BitReader { input, pending: 0, count: 0, used: 0 };
    let mut text = String::with_capacity(count);
    for _ in 0..count {
        // A code's prefix is as many ones as its place in CODES, then a zero (but for the last).
        let mut ones = 0;
        while ones < CODES.len() - 1 && bits.read(1)? == 1 {
            ones += 1;
        }
        let (end, _, _, value_bits) = CODES[ones];
        let value = bits.read(value_bits)?;
        let value = if end == 0x11_0000 { value + SUPPLEMENTARY } else { value };
        text.push(char::from_u32(value)?);
    }
    *input = &input[bits.used..];
    Some(text)
}

/// Appends `number` in LEB128: 7 bits a byte, low bits first, the top bit set on all but the last.
pub fn push_number(out: &mut Vec<u8>, mut number: u64) {
    while number >= 0x80 {
        out.push((number as u8 & 0x7f) | 0x80);
        number >>= 7;
    }
    out.push(number as u8);
}

/// Reads a number that [`push_number`] wrote from the front of `input` and moves `input` past it.
pub fn take_number(input: &mut &[u8]) -> Option<u64> {
    let mut number = 0u64;
    for (index, byte) in input.iter().enumerate().take(10) {
        number |= u64::from(byte & 0x7f).checked_shl(7 * index as u32)?;
        if byte & 0x80 == 0 {
            *input = &input[index + 1..];
            return Some(number);
        }
    }
    None
}

/// Bits written most significant first.
struct Bits<'a> {
    out: &'a mut Vec<u8>,
    pending: u64,
    count: u32,
}

impl Bits<'_> {
    fn push(&mut self, value: u32, bits: u32) {
        self.pending = (self.pending << bits) | u64::from(value);
        self.count += bits;
        while self.count >= 8 {
            self.count -= 8;
            self.out.push((self.pending >> self.count) as u8);
        }
        self.pending &= (1 << self.count) - 1;
    }

    fn flush(mut self) {
        if self.count > 0 {
            let pad = 8 - self.count;
            self.push(0, pad);
        }
    }
}

/// Bits read most significant first; `used` counts the bytes taken.
struct BitReader<'a> {
    input: &'a [u8],
    pending: u64,
    count: u32,
    used: usize,
}

impl BitReader<'_> {
    fn read(&mut self, bits: u32) -> Option<u32> {
        while self.count < bits {
            let byte = *self.input.get(self.used)?;
            self.used += 1;
            self.pending = (self.pending << 8) | u64::from(byte);
            self.count += 8;
        }
        self.count -= bits;
        let value = (self.pending >> self.count) as u32 & ((1 << bits) - 1);
        self.pending &= (1 << self.count) - 1;
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> usize {
        let mut out = vec![7];
        push(&mut out, text);
        out.push(9);
        let mut input = &out[1..];
        assert_eq!(take(&mut input).as_deref(), Some(text));
        assert_eq!(input, [9], "{text:?}: the reader stops where the text ends");
        out.len() - 2
    }

    #[test]
    fn every_size_of_scalar_value_round_trips_in_its_code() {
        for text in ["", "a", "\u{0}", "\u{7f}\u{80}", "é\u{7ff}\u{800}", "\u{ffff}\u{10000}", "\u{10ffff}", "Tie tie"]
        {
            round_trip(text);
        }
        // The largest name a cursor may carry: 200 four-byte characters in 575 bytes and the count.
        assert_eq!(round_trip(&"\u{1F600}".repeat(200)), 2 + 575);
        assert_eq!(round_trip(&"\u{10ffff}".repeat(200)), 2 + 575);
        // "İ" lower-cases to two values, "i" and U+0307: 21 bits for one character of a name.
        assert_eq!(round_trip(&"İ".repeat(200).to_lowercase()), 2 + 525);
        assert_eq!(round_trip("01JABCDEFGHJKMNPQRSTVWXYZ0"), 1 + 26);
    }

    #[test]
    fn truncated_or_foreign_bytes_are_refused_not_misread() {
        let mut out = Vec::new();
        push(&mut out, "\u{1F600}\u{1F601}");
        for end in 0..out.len() {
            assert_eq!(take(&mut &out[..end]), None, "cut at {end}");
        }
        // A count larger than the bytes left, and a surrogate's code (not a scalar value).
        assert_eq!(take(&mut &[200, 1][..]), None);
        let mut surrogate = Vec::new();
        push_number(&mut surrogate, 1);
        let mut bits = Bits { out: &mut surrogate, pending: 0, count: 0 };
        bits.push(0b110, 3);
        bits.push(0xd800, 16);
        bits.flush();
        assert_eq!(take(&mut &surrogate[..]), None);
    }

    #[test]
    fn numbers_round_trip_in_leb128() {
        for number in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            push_number(&mut out, number);
            let mut input = &out[..];
            assert_eq!(take_number(&mut input), Some(number));
            assert!(input.is_empty());
        }
        assert_eq!(take_number(&mut &[0x80][..]), None);
    }
}
