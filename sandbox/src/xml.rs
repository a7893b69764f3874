//! A small XML element tree for the REST-XML request bodies the sandbox
//! reads (Route 53 change batches and health-check configs): elements,
//! their text and their children, namespaces ignored.

use quick_xml::events::Event;

/// One element.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

/// How deep a document may nest. The bodies the sandbox reads nest five
/// or six levels; a deeper one is refused, so a hostile document cannot
/// build a tree whose (recursive) drop or printing exhausts the stack.
pub const MAX_DEPTH: usize = 64;

impl Element {
    /// Parses a document; `None` when it is not well-formed or nests
    /// deeper than [`MAX_DEPTH`].
    pub fn parse(doc: &[u8]) -> Option<Element> {
        let mut reader = quick_xml::Reader::from_reader(doc);
        let mut stack: Vec<Element> = vec![Element::default()];
        let mut buf = Vec::new();
        loop {
            match reader.read_event_into(&mut buf).ok()? {
                Event::Start(e) => {
                    if stack.len() > MAX_DEPTH {
                        return None;
                    }
                    stack.push(Element {
                        name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                        ..Default::default()
                    })
                }
                Event::Empty(e) => {
                    if stack.len() > MAX_DEPTH {
                        return None;
                    }
                    let el = Element {
                        name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                        ..Default::default()
                    };
                    stack.last_mut()?.children.push(el);
                }
                Event::Text(t) => {
                    let text = t.xml_content().ok()?.into_owned();
                    stack.last_mut()?.text.push_str(&text);
                }
                // Character references are how the SDKs send line breaks
                // (`&#xA;`); one that names no character is malformed.
                Event::GeneralRef(r) if r.is_char_ref() => {
                    let c = r.resolve_char_ref().ok()??;
                    stack.last_mut()?.text.push(c);
                }
                Event::GeneralRef(r) => {
                    let name = String::from_utf8_lossy(r.as_ref()).into_owned();
                    let ch = match name.as_str() {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "apos" => "'",
                        _ => "",
                    };
                    stack.last_mut()?.text.push_str(ch);
                }
                Event::CData(t) => stack
                    .last_mut()?
                    .text
                    .push_str(&String::from_utf8_lossy(&t)),
                Event::End(_) => {
                    let mut done = stack.pop()?;
                    // Indentation between elements is not content.
                    done.text = done.text.trim().to_owned();
                    stack.last_mut()?.children.push(done);
                }
                Event::Eof => break,
                _ => {}
            }
            buf.clear();
        }
        let mut root = stack.pop()?;
        (stack.is_empty() && root.children.len() == 1).then(|| root.children.remove(0))
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of the first child named `name`, if present.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// The element as XML (no declaration, no namespace).
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    /// The element's text and children as XML, without its own tags.
    pub fn inner_xml(&self) -> String {
        let mut out = crate::wire::xml_escape(&self.text);
        for c in &self.children {
            c.write(&mut out);
        }
        out
    }

    fn write(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        out.push('>');
        out.push_str(&self.inner_xml());
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_elements_and_entities() {
        let doc = br#"<?xml version="1.0"?><A xmlns="x"><B>one &amp; two</B><C><D>1</D><D>2</D></C><E/></A>"#;
        let a = Element::parse(doc).unwrap();
        assert_eq!(a.name, "A");
        assert_eq!(a.text_of("B"), Some("one & two"));
        assert_eq!(a.child("C").unwrap().all("D").count(), 2);
        assert!(a.child("E").is_some());
        assert!(Element::parse(b"<A><B></A>").is_none());
        let refs = Element::parse(b"<A>a&#xA;b&#13;&#233;</A>").unwrap();
        assert_eq!(refs.text, "a\nb\ré");
        assert!(Element::parse(b"<A>&#xD800;</A>").is_none());
        assert!(Element::parse(b"<A>&#0;</A>").is_none());
        let breaks = Element {
            name: "A".into(),
            text: "a\r\nb\u{85}c\u{2028}d".into(),
            children: Vec::new(),
        };
        assert_eq!(Element::parse(breaks.to_xml().as_bytes()), Some(breaks));
        assert_eq!(
            a.to_xml(),
            "<A><B>one &amp; two</B><C><D>1</D><D>2</D></C><E></E></A>"
        );
        assert_eq!(Element::parse(a.to_xml().as_bytes()), Some(a));
    }
}
