//! Money as exact integers of pico-USD (10^-12 USD). Prices are pico-USD per
//! token, so a request's cost is a product of integers: no floats, no
//! rounding, and sums of costs are exact.

/// Pico-USD per USD.
pub const PICO_PER_USD: i64 = 1_000_000_000_000;
const SCALE: u32 = 12;

/// Parses a non-negative decimal amount of USD ("12.5", "0.000002",
/// "1.5e-7") into pico-USD, refusing anything finer than a pico-dollar.
pub fn parse_usd(text: &str) -> Result<i64, String> {
    scaled(text, SCALE)
}

/// A price in USD per million tokens ("2.50") as pico-USD per token.
pub fn parse_usd_per_million_tokens(text: &str) -> Result<i64, String> {
    scaled(text, SCALE - 6).map_err(|e| {
        e.replace(
            "finer than a pico-dollar (10^-12 USD)",
            "finer than a pico-dollar per token (0.000001 USD per million tokens)",
        )
    })
}

/// Pico-USD per token as USD per million tokens, at least two decimals.
pub fn format_usd_per_million_tokens(pico_per_token: i64) -> String {
    format_usd(pico_per_token.saturating_mul(1_000_000))
}

/// Pico-USD as a USD amount with at least two decimals: `"12.50"`, `"0.000000000001"`.
pub fn format_usd(pico: i64) -> String {
    format_usd_wide(i128::from(pico))
}

/// Like [`format_usd`], for sums that may exceed `i64` (9.2 million USD).
pub fn format_usd_wide(pico: i128) -> String {
    let sign = if pico < 0 { "-" } else { "" };
    let abs = pico.unsigned_abs();
    let whole = abs / PICO_PER_USD as u128;
    let frac = abs % PICO_PER_USD as u128;
    let mut digits = format!("{frac:012}");
    while digits.len() > 2 && digits.ends_with('0') {
        digits.pop();
    }
    format!("{sign}{whole}.{digits}")
}

/// The cost of a request: exact, saturating at `i64::MAX` (9.2 million USD).
pub fn cost(tokens: u64, pico_per_token: i64) -> i64 {
    let product = i128::from(tokens) * i128::from(pico_per_token.max(0));
    i64::try_from(product).unwrap_or(i64::MAX)
}

/// `text` × 10^scale as an integer, exactly, or an error saying why not.
fn scaled(text: &str, scale: u32) -> Result<i64, String> {
    let text = text.trim();
    if text.is_empty() || text.len() > 40 {
        return Err("must be a decimal amount such as \"12.50\"".into());
    }
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => {
            let exp: i32 = text[at + 1..]
                .parse()
                .map_err(|_| format!("`{text}` has an invalid exponent"))?;
            (&text[..at], exp)
        }
        None => (text, 0),
    };
    if mantissa.starts_with('-') {
        return Err("must not be negative".into());
    }
    let mantissa = mantissa.strip_prefix('+').unwrap_or(mantissa);
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(format!("`{text}` is not a decimal amount"));
    }
    // value = digits × 10^(exponent - frac_len); we want value × 10^scale.
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    let shift = i64::from(exponent) - frac_part.len() as i64 + i64::from(scale);
    if digits.is_empty() {
        return Ok(0);
    }
    let (digits, shift) = if shift < 0 {
        let cut = shift.unsigned_abs() as usize;
        if cut > digits.len() || !digits[digits.len() - cut..].bytes().all(|b| b == b'0') {
            return Err(format!(
                "`{text}` is finer than a pico-dollar (10^-12 USD), the unit amounts are kept in"
            ));
        }
        (&digits[..digits.len() - cut], 0)
    } else {
        (digits, shift)
    };
    let too_large = || format!("`{text}` is too large");
    if digits.len() as i64 + shift > 19 {
        return Err(too_large());
    }
    let base: i64 = digits.parse().map_err(|_| too_large())?;
    10i64
        .checked_pow(shift as u32)
        .and_then(|p| base.checked_mul(p))
        .ok_or_else(too_large)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimal_and_scientific_amounts_exactly() {
        assert_eq!(parse_usd("1"), Ok(PICO_PER_USD));
        assert_eq!(parse_usd("12.50"), Ok(12_500_000_000_000));
        assert_eq!(parse_usd("0.000000000001"), Ok(1));
        assert_eq!(parse_usd("1.5e-7"), Ok(150_000));
        assert_eq!(parse_usd("3.75E-8"), Ok(37_500));
        assert_eq!(parse_usd("2e3"), Ok(2000 * PICO_PER_USD));
        assert_eq!(parse_usd("0"), Ok(0));
        assert_eq!(parse_usd(".5"), Ok(PICO_PER_USD / 2));
    }

    #[test]
    fn refuses_what_it_cannot_keep_exactly() {
        assert!(parse_usd("0.0000000000001").unwrap_err().contains("pico"));
        assert!(parse_usd("-1").unwrap_err().contains("negative"));
        assert!(parse_usd("abc").is_err());
        assert!(parse_usd("1e30").unwrap_err().contains("too large"));
        assert!(parse_usd("").is_err());
        assert!(parse_usd("1.2.3").is_err());
    }

    #[test]
    fn formats_round_trip() {
        for text in ["12.50", "3.00", "0.000000000001", "9223372.036854775807"] {
            assert_eq!(format_usd(parse_usd(text).unwrap()), text);
        }
        assert_eq!(format_usd(-1_500_000_000_000), "-1.50");
        let past_i64 = i128::from(i64::MAX) * 3 + 1;
        assert_eq!(format_usd_wide(past_i64), "27670116.110564327422");
    }

    #[test]
    fn prices_per_million_tokens() {
        assert_eq!(parse_usd_per_million_tokens("2.50"), Ok(2_500_000));
        assert_eq!(parse_usd_per_million_tokens("0.0375"), Ok(37_500));
        assert_eq!(format_usd_per_million_tokens(37_500), "0.0375");
        assert!(
            parse_usd_per_million_tokens("0.0000001")
                .unwrap_err()
                .contains("per token")
        );
    }

    #[test]
    fn cost_is_an_exact_product() {
        assert_eq!(cost(1_000_000, 150_000), 150 * 1_000_000_000);
        assert_eq!(cost(u64::MAX, i64::MAX), i64::MAX);
    }
}
