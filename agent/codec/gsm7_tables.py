"""Character tables of 3GPP TS 23.038: the GSM 7-bit default alphabet (6.2.1),
its extension table (6.2.1.1) and the national language tables of annex A for
Turkish (1), Spanish (2) and Portuguese (3).

Locking-shift tables are 128-character strings indexed by septet value; single
shift (extension) tables are dicts from the septet following an escape (0x1B) to
a character. Position 0x1B of every locking table holds the escape itself, which
:mod:`agent.codec.gsm7` handles before any lookup. Pure data, no logic.
"""

from __future__ import annotations

ESC = 0x1B

# 6.2.1, one string per column pair of the standard's table, 16 code points each.
DEFAULT = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)

# 6.2.1.1; 0x0A is the form feed (page break).
DEFAULT_EXTENSION = {
    0x0A: "\x0c",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

# A.3.1 Turkish locking shift.
TURKISH = (
    "@£$¥€éùıòÇ\nĞğ\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bŞşßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "İABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "çabcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)

# A.2.1 Turkish single shift: the default extension plus seven letters.
TURKISH_EXTENSION = {
    **DEFAULT_EXTENSION,
    0x47: "Ğ",
    0x49: "İ",
    0x53: "Ş",
    0x63: "ç",
    0x67: "ğ",
    0x69: "ı",
    0x73: "ş",
}

# A.2.2 Spanish single shift (Spanish has no locking shift table).
SPANISH_EXTENSION = {
    **DEFAULT_EXTENSION,
    0x09: "ç",
    0x41: "Á",
    0x49: "Í",
    0x4F: "Ó",
    0x55: "Ú",
    0x61: "á",
    0x69: "í",
    0x6F: "ó",
    0x75: "ú",
}

# A.3.3 Portuguese locking shift.
PORTUGUESE = (
    "@£$¥êéúíóç\nÔô\rÁá"
    "Δ_ªÇÀ∞^\\€Ó|\x1bÂâÊÉ"
    " !\"#º%&'()*+,-./"
    "0123456789:;<=>?"
    "ÍABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÃÕÚÜ§"
    "~abcdefghijklmno"
    "pqrstuvwxyzãõ`üà"
)

# A.2.3 Portuguese single shift.
PORTUGUESE_EXTENSION = {
    **DEFAULT_EXTENSION,
    0x05: "ê",
    0x09: "ç",
    0x0B: "Ô",
    0x0C: "ô",
    0x0E: "Á",
    0x0F: "á",
    0x12: "Φ",
    0x13: "Γ",
    0x15: "Ω",
    0x16: "Π",
    0x17: "Ψ",
    0x18: "Σ",
    0x19: "Θ",
    0x1F: "Ê",
    0x41: "À",
    0x49: "Í",
    0x4F: "Ó",
    0x55: "Ú",
    0x5B: "Ã",
    0x5C: "Õ",
    0x61: "Â",
    0x69: "í",
    0x6F: "ó",
    0x75: "ú",
    0x7B: "ã",
    0x7C: "õ",
    0x7F: "â",
}

# National language identifiers of 23.038 6.2.1.2.4 -> tables. A language
# without a table of a kind (Spanish locking) is absent from that mapping.
LOCKING_TABLES = {0: DEFAULT, 1: TURKISH, 3: PORTUGUESE}
SINGLE_SHIFT_TABLES = {
    0: DEFAULT_EXTENSION,
    1: TURKISH_EXTENSION,
    2: SPANISH_EXTENSION,
    3: PORTUGUESE_EXTENSION,
}
