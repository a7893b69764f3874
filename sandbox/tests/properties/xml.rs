//! The XML element tree Route 53 and CloudFront bodies are read with
//! (`xml::Element::parse`).

use proptest::prelude::*;
use wildrydes_sandbox::xml::{Element, MAX_DEPTH};

/// How deep a tree nests (a leaf is 1), without recursing: a parser
/// that let a deep tree through must fail this check, not overflow the
/// test's stack.
fn depth(e: &Element) -> usize {
    let mut deepest = 0;
    let mut todo = vec![(e, 1)];
    while let Some((e, d)) = todo.pop() {
        deepest = deepest.max(d);
        todo.extend(e.children.iter().map(|c| (c, d + 1)));
    }
    deepest
}

/// Bytes of names and text in a tree, without recursing.
fn size(e: &Element) -> usize {
    let mut total = 0;
    let mut todo = vec![e];
    while let Some(e) = todo.pop() {
        total += e.name.len() + e.text.len();
        todo.extend(&e.children);
    }
    total
}

/// What any parse may return: nothing, or a tree within the depth limit
/// that holds no more than the document did (names are read lossily, so
/// an invalid byte becomes a three-byte U+FFFD).
fn check_bounds(doc: &[u8]) -> Result<Option<Element>, TestCaseError> {
    let parsed = Element::parse(doc);
    if let Some(e) = &parsed {
        prop_assert!(depth(e) <= MAX_DEPTH, "depth {} > {MAX_DEPTH}", depth(e));
        prop_assert!(
            size(e) <= 3 * doc.len(),
            "{} bytes from {}",
            size(e),
            doc.len()
        );
    }
    Ok(parsed)
}

/// Pieces of XML syntax, so random concatenations reach the parser's
/// deeper states far more often than random bytes.
fn xmlish() -> impl Strategy<Value = Vec<u8>> {
    const TOKENS: &[&str] = &[
        "<",
        ">",
        "</",
        "/>",
        "a",
        "B",
        "x:y",
        " ",
        "\n",
        "=",
        "\"",
        "'",
        "&",
        ";",
        "&amp;",
        "&lt;",
        "&#",
        "&#x",
        "41",
        "D800",
        "110000",
        "&foo;",
        "<![CDATA[",
        "]]>",
        "<!--",
        "-->",
        "<?",
        "?>",
        "<?xml version=\"1.0\"?>",
        "<!DOCTYPE a [",
        "<!ENTITY e \"",
        "]>",
        "é",
        "\u{0}",
        "\u{FEFF}",
        "<a>",
        "</a>",
        "<a b='c'>",
        "<b/>",
    ];
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(TOKENS).prop_map(|t| t.as_bytes().to_vec()),
            1 => prop::collection::vec(any::<u8>(), 1..4),
        ],
        0..64,
    )
    .prop_map(|pieces| pieces.concat())
}

/// A name with an optional namespace prefix; the tree keeps the local
/// part.
fn name() -> impl Strategy<Value = (String, String)> {
    (
        prop::option::of("[a-z]{1,3}"),
        "[A-Za-z_][A-Za-z0-9_.-]{0,8}",
    )
        .prop_map(|(prefix, local)| match prefix {
            Some(p) => (format!("{p}:{local}"), local),
            None => (local.clone(), local),
        })
}

/// Element text as the SDKs send it: any character but the few XML 1.0
/// forbids, no surrounding whitespace (the tree trims it).
fn text() -> impl Strategy<Value = String> {
    "[^\u{0}-\u{8}\u{B}\u{C}\u{E}-\u{1F}\u{FFFE}\u{FFFF}]{0,12}".prop_map(|t| t.trim().to_owned())
}

/// One way of writing a piece of text.
#[derive(Debug, Clone, Copy)]
enum Spelling {
    /// `&`, `<`, `>` (and quotes) as named entities, the rest raw.
    Named,
    /// Every character as `&#N;`.
    Decimal,
    /// Every character as `&#xH;`.
    Hex,
    /// Inside `<![CDATA[…]]>` (when the text holds no `]]>`).
    CData,
    /// As the AWS SDKs escape: named entities, and `&#xA;`-style
    /// references for CR, LF, NEL and LINE SEPARATOR.
    Sdk,
}

fn spell(text: &str, how: Spelling) -> String {
    let named = |c: char| match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '"' => Some("&quot;"),
        '\'' => Some("&apos;"),
        _ => None,
    };
    match how {
        Spelling::CData if !text.contains("]]>") && !text.contains('\r') => {
            format!("<![CDATA[{text}]]>")
        }
        Spelling::Decimal => text.chars().map(|c| format!("&#{};", c as u32)).collect(),
        Spelling::Hex => text
            .chars()
            .map(|c| format!("&#x{:x};", c as u32))
            .collect(),
        Spelling::Named | Spelling::Sdk | Spelling::CData => text
            .chars()
            .map(|c| match (named(c), c) {
                (Some(e), _) => e.to_owned(),
                (None, '\r' | '\n' | '\u{85}' | '\u{2028}') => format!("&#x{:X};", c as u32),
                (None, c) => c.to_string(),
            })
            .collect(),
    }
}

/// A tree, and how to write it: attributes, comments and processing
/// instructions around it (which the tree ignores), its text split into
/// pieces spelled in different ways between the children.
#[derive(Debug, Clone)]
struct Doc {
    tree: Element,
    xml: String,
}

fn spelling() -> impl Strategy<Value = Spelling> {
    prop_oneof![
        Just(Spelling::Named),
        Just(Spelling::Decimal),
        Just(Spelling::Hex),
        Just(Spelling::CData),
        Just(Spelling::Sdk),
    ]
}

/// Attribute lists, entity- and reference-laden; the tree ignores them.
fn attributes() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            "[a-z]{1,4}(:[a-z]{1,4})?",
            text(),
            spelling(),
            any::<bool>(),
        ),
        0..4,
    )
    .prop_map(|attrs| {
        attrs
            .into_iter()
            .enumerate()
            .map(|(i, (n, v, how, single))| {
                // CDATA is not allowed in attribute values.
                let how = if let Spelling::CData = how {
                    Spelling::Named
                } else {
                    how
                };
                let v = spell(&v, how);
                if single {
                    format!(" {n}{i}='{v}'")
                } else {
                    format!(" {n}{i}=\"{v}\"")
                }
            })
            .collect()
    })
}

/// Markup the tree ignores, between pieces of content.
fn noise() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just(String::new()),
        1 => "[a-z ]{0,6}".prop_map(|c| format!("<!--{c}-->")),
        1 => "[a-z]{1,4}".prop_map(|p| format!("<?pi {p}?>")),
    ]
}

fn leaf() -> impl Strategy<Value = Doc> {
    (
        name(),
        attributes(),
        text(),
        spelling(),
        noise(),
        any::<bool>(),
    )
        .prop_map(|((qname, local), attrs, text, how, noise, empty_tag)| {
            let xml = if text.is_empty() && empty_tag {
                format!("<{qname}{attrs}/>")
            } else {
                format!("<{qname}{attrs}>{noise}{}</{qname}>", spell(&text, how))
            };
            Doc {
                tree: Element {
                    name: local,
                    text,
                    children: Vec::new(),
                },
                xml,
            }
        })
}

fn doc() -> impl Strategy<Value = Doc> {
    leaf().prop_recursive(6, 48, 4, |inner| {
        (
            name(),
            attributes(),
            prop::collection::vec((inner, text(), spelling(), noise()), 1..4),
        )
            .prop_map(|((qname, local), attrs, children)| {
                // Each child is preceded by a piece of its parent's text;
                // the tree holds their concatenation, trimmed.
                let mut xml = format!("<{qname}{attrs}>");
                let mut text = String::new();
                let mut tree_children = Vec::new();
                for (child, piece, how, noise) in children {
                    xml.push_str(&spell(&piece, how));
                    xml.push_str(&noise);
                    xml.push_str(&child.xml);
                    text.push_str(&piece);
                    tree_children.push(child.tree);
                }
                xml.push_str(&format!("</{qname}>"));
                Doc {
                    tree: Element {
                        name: local,
                        text: text.trim().to_owned(),
                        children: tree_children,
                    },
                    xml,
                }
            })
    })
}

/// `<a1><a2>…` `depth` levels deep, the innermost either empty (`<x/>`) or
/// with text, each level with attributes and references.
fn chain(depth: usize, empty_leaf: bool) -> String {
    let mut xml = String::new();
    for i in 0..depth.saturating_sub(1) {
        xml.push_str(&format!("<a{i} k=\"&amp;&#x41;\">&lt;{i}&#10;"));
    }
    if depth > 0 {
        if empty_leaf {
            xml.push_str("<leaf k='v'/>");
        } else {
            xml.push_str("<leaf>&amp;</leaf>");
        }
    }
    for i in (0..depth.saturating_sub(1)).rev() {
        xml.push_str(&format!("</a{i}>"));
    }
    xml
}

proptest! {
    #![proptest_config(crate::config(1000))]

    #[test]
    fn arbitrary_bytes_parse_within_bounds(doc in prop::collection::vec(any::<u8>(), 0..512)) {
        check_bounds(&doc)?;
    }

    #[test]
    fn xml_like_noise_parses_within_bounds(doc in xmlish()) {
        check_bounds(&doc)?;
    }
}

proptest! {
    #![proptest_config(crate::config(500))]

    /// A generated tree, written with attributes, comments, processing
    /// instructions, entities, character references and CDATA, parses
    /// back to itself; and its own rendering parses back too.
    #[test]
    fn documents_parse_to_the_tree_they_spell(
        doc in doc(),
        declaration in any::<bool>(),
        trailing in noise(),
    ) {
        let xml = format!(
            "{}{}{trailing}",
            if declaration { "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" } else { "" },
            doc.xml
        );
        let parsed = check_bounds(xml.as_bytes())?;
        prop_assert_eq!(parsed.as_ref(), Some(&doc.tree), "{}", xml);
        prop_assert_eq!(Element::parse(doc.tree.to_xml().as_bytes()), Some(doc.tree));
    }

    /// Cut anywhere, a document is refused or parses within bounds
    /// (never half a tree that passes as whole: only where the cut leaves
    /// a well-formed document).
    #[test]
    fn truncated_documents_never_panic(doc in doc(), cut in any::<prop::sample::Index>()) {
        let bytes = doc.xml.as_bytes();
        let cut = cut.index(bytes.len() + 1);
        check_bounds(&bytes[..cut])?;
    }

    /// Exactly the documents nested at most `MAX_DEPTH` deep parse,
    /// however deep the rest go (a recursive parser overflows its stack
    /// on the deep ones; this one stops reading at the limit).
    #[test]
    fn nesting_is_refused_past_the_limit(
        depth in prop_oneof![0usize..=MAX_DEPTH + 4, 0usize..20_000],
        empty_leaf in any::<bool>(),
    ) {
        let xml = chain(depth, empty_leaf);
        let parsed = check_bounds(xml.as_bytes())?;
        prop_assert_eq!(parsed.is_some(), (1..=MAX_DEPTH).contains(&depth));
        if let Some(tree) = parsed {
            prop_assert_eq!(self::depth(&tree), depth);
        }
    }

    /// The "billion laughs": entities defined from entities, `fan` times
    /// per level. Expanding them is `fan^levels` bytes; the tree holds
    /// what the document spells, no more.
    #[test]
    fn entity_bombs_do_not_expand(levels in 1usize..12, fan in 2usize..16, reps in 1usize..64) {
        let mut dtd = String::from("<!DOCTYPE bomb [<!ENTITY e0 \"lol\">");
        for level in 1..levels {
            let body = format!("&e{};", level - 1).repeat(fan);
            dtd.push_str(&format!("<!ENTITY e{level} \"{body}\">"));
        }
        dtd.push_str("]>");
        let xml = format!("{dtd}<bomb>{}</bomb>", format!("&e{};", levels - 1).repeat(reps));
        check_bounds(xml.as_bytes())?;
    }
}

/// Found by `documents_parse_to_the_tree_they_spell`: character
/// references were dropped (the SDKs send line breaks as `&#xA;`), and a
/// carriage return written by `to_xml` read back as a line feed.
#[test]
fn character_references_and_carriage_returns_read_back() {
    let parsed = Element::parse(b"<A>&#65;&#xA;b</A>").unwrap();
    assert_eq!(parsed.text, "A\nb");
    let tree = Element {
        name: "A".into(),
        text: "¡\r𐀀".into(),
        children: Vec::new(),
    };
    assert_eq!(Element::parse(tree.to_xml().as_bytes()), Some(tree));
}

/// Found by `nesting_is_refused_past_the_limit`: an empty element
/// (`<x/>`) one level past the limit was let through.
#[test]
fn an_empty_element_past_the_limit_is_refused() {
    assert!(Element::parse(chain(MAX_DEPTH, true).as_bytes()).is_some());
    assert!(Element::parse(chain(MAX_DEPTH + 1, true).as_bytes()).is_none());
}
