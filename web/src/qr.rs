//! QR codes drawn as inline SVG, in the page itself: the authenticator
//! set-up shows its `otpauth://` URI this way, so the secret it carries is
//! never sent to an image service.

use leptos::prelude::*;
use qrcode::{Color, EcLevel, QrCode};

/// Modules of light margin around the code, as the standard asks.
const QUIET: usize = 4;

/// The dark modules of `text`'s QR code as one SVG path (a rectangle per
/// run of dark modules in a row), and the side of the square it is drawn
/// in, margin included. `None` when the text is too long for a QR code.
pub fn path(text: &str) -> Option<(String, usize)> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).ok()?;
    let width = code.width();
    let colors = code.to_colors();
    let mut d = String::new();
    for (y, row) in colors.chunks(width).enumerate() {
        let mut x = 0;
        while x < width {
            if row[x] == Color::Dark {
                let start = x;
                while x < width && row[x] == Color::Dark {
                    x += 1;
                }
                let run = x - start;
                d.push_str(&format!("M{} {}h{run}v1h-{run}z", start + QUIET, y + QUIET));
            } else {
                x += 1;
            }
        }
    }
    Some((d, width + 2 * QUIET))
}

/// `text` as a QR code; `label` names it for screen readers.
#[component]
pub fn QrCode(#[prop(into)] text: String, #[prop(into)] label: String) -> impl IntoView {
    path(&text).map(|(d, side)| {
        view! {
            <svg class="qr" role="img" aria-label=label viewBox=format!("0 0 {side} {side}")
                xmlns="http://www.w3.org/2000/svg" shape-rendering="crispEdges">
                <rect width=side.to_string() height=side.to_string() fill="#fff"/>
                <path d=d fill="#000"/>
            </svg>
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_draws_the_finder_patterns_inside_the_quiet_zone() {
        let (d, side) =
            path("otpauth://totp/Ditto%20(acme):ada@acme.example?secret=JBSWY3DPEHPK3PXP")
                .expect("fits");
        let width = side - 2 * QUIET;
        assert!(
            width >= 21 && (width - 21).is_multiple_of(4),
            "a QR code's width: {width}"
        );
        // The top-left finder pattern: a full row of seven dark modules at
        // the margin's corner, and the one at the top-right.
        assert!(d.starts_with(&format!("M{QUIET} {QUIET}h7v1h-7z")), "{d}");
        assert!(
            d.contains(&format!("M{} {QUIET}h7v1h-7z", QUIET + width - 7)),
            "{d}"
        );
        assert!(path(&"x".repeat(4000)).is_none());
    }
}
