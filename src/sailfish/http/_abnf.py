"""The RFC 9110/9112 grammar the reference parser enforces, as regex source strings.

Strategy: each name below is the regex form of one ABNF rule, with the RFC rule quoted beside
it, so the grammar can be checked against the RFC line by line. Patterns are `str` written
with `\\xNN` escapes only (never raw non-ASCII characters): consumers encode them to ASCII and
compile them as bytes patterns. Where sailfish is deliberately stricter or simpler than the RFC,
the comment says so and why. No compiled patterns, no logic and no imports of sailfish here:
what a rule means for the parser (which error, in what order) lives in headers.py, scope.py
and parser.py.
"""

from __future__ import annotations

# Core rules -- RFC 5234 Appendix B.1
#   DIGIT  = %x30-39
#   HEXDIG = DIGIT / "A" / "B" / "C" / "D" / "E" / "F"      (ABNF strings are case-insensitive)
#   VCHAR  = %x21-7E
#   SP     = %x20
#   HTAB   = %x09
DIGIT = r"[0-9]"
HEXDIG = r"[0-9A-Fa-f]"
VCHAR = r"[\x21-\x7e]"
SP = r" "
HTAB = r"\t"

# OWS = *( SP / HTAB )          -- RFC 9110 §5.6.3
# BWS = OWS                     -- RFC 9110 §5.6.3
OWS = r"[ \t]*"
BWS = OWS

# obs-text = %x80-FF            -- RFC 9110 §5.5
OBS_TEXT = r"[\x80-\xff]"

# tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
#         "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
# token = 1*tchar               -- RFC 9110 §5.6.2
TCHAR = r"[-!#$%&'*+.^_`|~0-9A-Za-z]"
TOKEN = TCHAR + r"+"

# method = token                -- RFC 9110 §9.1 (case-sensitive)
METHOD = TOKEN

# field-name = token            -- RFC 9110 §5.1
FIELD_NAME = TOKEN

# field-value   = *field-content
# field-content = field-vchar [ 1*( SP / HTAB / field-vchar ) field-vchar ]
# field-vchar   = VCHAR / obs-text                              -- RFC 9110 §5.5
# field-line    = field-name ":" OWS field-value OWS            -- RFC 9112 §5
# We accept any run of HTAB / SP / VCHAR / obs-text after the colon and strip SP/HTAB from both
# ends afterwards: that is exactly `OWS field-value OWS` (the inner whitespace rule of
# field-content only forbids whitespace at the ends, which the OWS on either side absorbs).
# CR, LF, NUL and every other control byte are refused: "Field values containing CR, LF, or NUL
# characters are invalid and dangerous" -- RFC 9110 §5.5.
FIELD_VALUE_CHARS = r"[\t\x20-\x7e\x80-\xff]*"
# No whitespace is allowed before the colon, and a line that starts with SP/HTAB (obs-fold, or
# whitespace before the first field) cannot match either, since a field-name is a token.
FIELD_LINE = r"(?P<name>" + FIELD_NAME + r"):(?P<value>" + FIELD_VALUE_CHARS + r")"

# HTTP-version = HTTP-name "/" DIGIT "." DIGIT
# HTTP-name    = %s"HTTP"                                       -- RFC 9112 §2.3
# (%s: case-sensitive, unlike ordinary ABNF strings.)
HTTP_VERSION = r"HTTP/(?P<major>" + DIGIT + r")\.(?P<minor>" + DIGIT + r")"

# request-line = method SP request-target SP HTTP-version      -- RFC 9112 §3
# The parser splits the line on SP itself (the error it reports depends on how the split goes,
# docs/core.md step 1), so only the pieces are patterns here.
#
# request-target = origin-form / absolute-form / authority-form / asterisk-form  -- RFC 9112 §3.2
# Before telling the forms apart we require 1*VCHAR, as every form is made of URI characters.
# We do not check the full URI grammar of origin-form/absolute-form: the target reaches the
# application as raw_path/path/query_string, and rejecting e.g. `"` or `{` in a path breaks
# real clients for no safety gain (departure from strict RFC 3986, like h11 and httptools).
REQUEST_TARGET = VCHAR + r"+"

# origin-form   = absolute-path [ "?" query ]                   -- RFC 9112 §3.2.1
# absolute-path = 1*( "/" segment )                             -- RFC 9110 §4.1
# Recognised by its leading "/" only (see REQUEST_TARGET).
ORIGIN_FORM_START = r"/"

# absolute-form = absolute-URI                                  -- RFC 9112 §3.2.2
# absolute-URI  = scheme ":" hier-part [ "?" query ]            -- RFC 3986 §4.3
# We accept only the http and https schemes with an authority ("//"), matched
# case-insensitively ("schemes are case-insensitive" -- RFC 3986 §3.1); the authority runs up
# to the first "/", "?" or the end (RFC 3986 §3.2: "terminated by the next slash ("/"),
# question mark ("?"), or number sign ("#") character, or by the end of the URI"; "#" is not
# special here because a request-target has no fragment).
ABSOLUTE_FORM = r"(?i:https?)://(?P<authority>[^/?]*)(?P<path>[^?]*)"

# asterisk-form = "*"                                           -- RFC 9112 §3.2.4
ASTERISK_FORM = r"\*"

# uri-host    = <host, see [URI], Section 3.2.2>                -- RFC 9110 §4.1
# host        = IP-literal / IPv4address / reg-name             -- RFC 3986 §3.2.2
# reg-name    = *( unreserved / pct-encoded / sub-delims )
# unreserved  = ALPHA / DIGIT / "-" / "." / "_" / "~"
# sub-delims  = "!" / "$" / "&" / "'" / "(" / ")" / "*" / "+" / "," / ";" / "="
# pct-encoded = "%" HEXDIG HEXDIG
# Simplified as docs/core.md states it: the characters of reg-name, with "%" allowed anywhere
# (its two HEXDIGs are not checked). IPv4address is a subset of reg-name.
REG_NAME = r"[A-Za-z0-9\-._~!$&'()*+,;=%]*"
# IP-literal = "[" ( IPv6address / IPvFuture ) "]"
# IPvFuture  = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )   -- RFC 3986 §3.2.2
# Simplified as docs/core.md states it: one or more of HEXDIG, ":", "." and "v" in brackets.
# This is looser than IPv6address and stricter than IPvFuture (which nobody sends).
IP_LITERAL = r"\[[0-9A-Fa-f:.v]+\]"
URI_HOST = r"(?:" + IP_LITERAL + r"|" + REG_NAME + r")"
# port = *DIGIT                                                 -- RFC 3986 §3.2.3
PORT = DIGIT + r"*"

# Host = uri-host [ ":" port ]                                  -- RFC 9110 §7.2
HOST = URI_HOST + r"(?::" + PORT + r")?"

# authority-form = uri-host ":" port                            -- RFC 9112 §3.2.3
# Stricter than port = *DIGIT: "There are no default ports; a client MUST send the port
# number even if the CONNECT request is based on a URI reference that contains an authority
# component with an elided port" -- RFC 9110 §9.3.6, so the authority-form needs 1*DIGIT.
AUTHORITY_FORM = URI_HOST + r":" + DIGIT + r"+"

# Connection        = #connection-option
# connection-option = token                                     -- RFC 9110 §7.6.1
# Transfer-Encoding = #transfer-coding                          -- RFC 9112 §6.1
# transfer-coding   = token *( OWS ";" OWS transfer-parameter ) -- RFC 9110 §10.1.4
# Content-Length    = 1*DIGIT                                   -- RFC 9110 §8.6
# Lists ("#rule", RFC 9110 §5.6.1) are split on "," and each element stripped of OWS by the
# code; only the element grammars are patterns. Content-Length is limited to 18 digits so that
# its value always fits in 63 bits: "a recipient MUST anticipate potentially large decimal
# numerals and prevent parsing errors due to integer conversion overflows" -- RFC 9110 §8.6.
CONTENT_LENGTH = DIGIT + r"{1,18}"

# chunk      = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
# chunk-size = 1*HEXDIG                                         -- RFC 9112 §7.1
# At most 16 hex digits (leading zeros count); the value must also be < 2**63 (checked in code):
# "Recipients MUST anticipate potentially large hexadecimal numerals and prevent parsing errors
# due to integer conversion overflows or precision loss due to integer representation."
CHUNK_SIZE_MAX_DIGITS = 16
CHUNK_SIZE = HEXDIG + r"+"

# chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
# chunk-ext-name = token
# chunk-ext-val  = token / quoted-string                        -- RFC 9112 §7.1.1
# Extensions are skipped ("A recipient MUST ignore unrecognized chunk extensions"), so we only
# check their outline: empty, or BWS then ";" then field-value characters (HTAB, SP, VCHAR,
# obs-text). A CR, LF or other control byte is never let through.
CHUNK_EXT = r"(?:" + BWS + r";" + FIELD_VALUE_CHARS + r")?"

# Line ends.
# "Although the line terminator for the start-line and fields is the sequence CRLF, a recipient
# MAY recognize a single LF as a line terminator and ignore any preceding CR." -- RFC 9112 §2.2
# Deliberate departure from that MAY: a bare LF (or a bare CR) is an error everywhere in the head,
# the chunk lines and the trailers. Two parties that disagree about where a line ends are how
# requests get smuggled past a front end, so we accept only the one unambiguous form.
CRLF = r"\r\n"
