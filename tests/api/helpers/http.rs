//! HTTP from the outside: a plain client, responses whatever their status, and [`Web`],
//! a browser-like client with cookies and CSRF-aware form submission; HTML and URL
//! reading helpers.

use super::app::TestApp;

/// An HTTP client that does not follow redirects and keeps cookies.
pub fn client() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(std::time::Duration::from_secs(30))
        .build()
}

/// A response, whatever its status.
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers (lowercase names).
    pub headers: Vec<(String, String)>,
    /// Body text.
    pub body: String,
}

impl Resp {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn read(r: ureq::Response) -> Resp {
    let status = r.status();
    let headers = r
        .headers_names()
        .into_iter()
        .filter_map(|n| {
            r.header(&n)
                .map(|v| (n.to_ascii_lowercase(), v.to_string()))
        })
        .collect();
    let body = r.into_string().unwrap_or_default();
    Resp {
        status,
        headers,
        body,
    }
}

/// Sends a request and returns the response whatever the status.
pub fn send(req: ureq::Request) -> Resp {
    match req.call() {
        Ok(r) => read(r),
        Err(ureq::Error::Status(_, r)) => read(r),
        Err(e) => panic!("request failed: {e}"),
    }
}

/// Sends a request with a body.
pub fn send_body(req: ureq::Request, body: &str) -> Resp {
    match req.send_string(body) {
        Ok(r) => read(r),
        Err(ureq::Error::Status(_, r)) => read(r),
        Err(e) => panic!("request failed: {e}"),
    }
}

/// Sends an urlencoded form and returns the response whatever the status.
pub fn send_form(req: ureq::Request, fields: &[(&str, &str)]) -> Resp {
    match req.send_form(fields) {
        Ok(r) => read(r),
        Err(ureq::Error::Status(_, r)) => read(r),
        Err(e) => panic!("request failed: {e}"),
    }
}

/// GET `url`.
pub fn get(url: &str) -> Resp {
    send(client().get(url))
}

/// A browser-like HTTP client: keeps cookies, does not follow redirects.
pub struct Web {
    /// Base URL.
    pub base: String,
    agent: ureq::Agent,
}

impl Web {
    /// A new client (empty cookie jar) for `app`.
    pub fn new(app: &TestApp) -> Self {
        Web {
            base: app.base.clone(),
            agent: client(),
        }
    }

    /// A new client (empty cookie jar) for a service at `base` (a spawned binary).
    pub fn at(base: &str) -> Self {
        Web {
            base: base.to_string(),
            agent: client(),
        }
    }

    /// GET `path`.
    pub fn get(&self, path: &str) -> Resp {
        send(self.agent.get(&format!("{}{}", self.base, path)))
    }

    /// GET `path` as bytes (a PDF, say): the status, the content type and the body.
    pub fn get_bytes(&self, path: &str) -> (u16, String, Vec<u8>) {
        let r = match self.agent.get(&format!("{}{}", self.base, path)).call() {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("request failed: {e}"),
        };
        let (status, kind) = (r.status(), r.content_type().to_string());
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut r.into_reader(), &mut body).expect("body");
        (status, kind, body)
    }

    /// POST an urlencoded form to `path`.
    pub fn post(&self, path: &str, fields: &[(&str, &str)]) -> Resp {
        send_form(self.agent.post(&format!("{}{}", self.base, path)), fields)
    }

    /// GET an absolute URL (another server, such as an OpenID provider).
    pub fn get_abs(&self, url: &str) -> Resp {
        send(self.agent.get(url))
    }

    /// POST an urlencoded form to an absolute URL (another server).
    pub fn post_abs(&self, url: &str, fields: &[(&str, &str)]) -> Resp {
        send_form(self.agent.post(url), fields)
    }

    /// GET a path on this app or an absolute URL elsewhere.
    pub fn visit(&self, url: &str) -> Resp {
        if url.starts_with('/') {
            self.get(url)
        } else {
            self.get_abs(url)
        }
    }

    /// The CSRF token of the session, read from the form on `path`.
    pub fn csrf(&self, path: &str) -> String {
        let r = self.get(path);
        csrf_in(&r.body)
            .unwrap_or_else(|| panic!("no csrf_token on {path} ({}): {}", r.status, r.body))
    }

    /// GET `form_page` for its token, then POST `fields` plus the token to `action`.
    pub fn submit(&self, form_page: &str, action: &str, fields: &[(&str, &str)]) -> Resp {
        let token = self.csrf(form_page);
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf_token", &token));
        self.post(action, &all)
    }

    /// As [`Web::submit`], with one more request header (`X-Forwarded-For`, say).
    pub fn submit_with_header(
        &self,
        form_page: &str,
        action: &str,
        header: (&str, &str),
        fields: &[(&str, &str)],
    ) -> Resp {
        let token = self.csrf(form_page);
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf_token", &token));
        let req = self
            .agent
            .post(&format!("{}{}", self.base, action))
            .set(header.0, header.1);
        send_form(req, &all)
    }

    /// The session cookie's value, if any.
    pub fn session_cookie(&self) -> Option<String> {
        self.agent
            .cookie_store()
            .iter_any()
            .find(|c| c.name().ends_with("procura_session"))
            .map(|c| c.value().to_string())
    }
}

/// The `csrf_token` hidden field's value in an HTML page.
pub fn csrf_in(html: &str) -> Option<String> {
    let i = html.find("name=\"csrf_token\" value=\"")? + "name=\"csrf_token\" value=\"".len();
    let rest = &html[i..];
    Some(rest[..rest.find('"')?].to_string())
}

/// The text between two markers (panics, showing the body, when `start` is missing).
pub fn between(body: &str, start: &str, end: &str) -> String {
    let i = body
        .find(start)
        .unwrap_or_else(|| panic!("{start} not in {body}"))
        + start.len();
    let rest = &body[i..];
    rest[..rest.find(end).expect("end")].to_string()
}

/// Unescapes the few entities askama produces.
pub fn html_unescape(s: &str) -> String {
    s.replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A query parameter of a URL, decoded.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// An HTML form as a browser would submit it by pressing the submit button whose value
/// is `button`: its action and its fields (hidden inputs, then that button's name and
/// value). Buttons may sit outside the form (`form="id"`), as oidc-provider writes them.
pub fn form_submission(html: &str, button: &str) -> Option<(String, Vec<(String, String)>)> {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let key = format!("{name}=\"");
        let i = tag.find(&key)? + key.len();
        let rest = &tag[i..];
        Some(html_unescape(&rest[..rest.find('"')?]))
    };
    let tags = |name: &str| -> Vec<String> {
        html.split(&format!("<{name}"))
            .skip(1)
            .filter_map(|t| t.find('>').map(|e| t[..e].to_string()))
            .collect()
    };
    let form = tags("form").into_iter().next()?;
    let action = attr(&form, "action")?;
    let mut fields: Vec<(String, String)> = tags("input")
        .iter()
        .filter(|t| attr(t, "type").as_deref() == Some("hidden"))
        .filter_map(|t| Some((attr(t, "name")?, attr(t, "value").unwrap_or_default())))
        .collect();
    let pressed = tags("button")
        .into_iter()
        .find(|t| attr(t, "value").as_deref() == Some(button))?;
    fields.push((attr(&pressed, "name")?, button.to_string()));
    Some((action, fields))
}

/// The sum of every sample of the counter `name` that `app` reports in /metrics (absent:
/// none yet).
pub fn metric_total(app: &TestApp, name: &str) -> u64 {
    let r = get(&app.url("/metrics"));
    assert_eq!(r.status, 200);
    r.body
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .map(|l| {
            let value = l.rsplit(' ').next().unwrap_or_default();
            value
                .parse::<f64>()
                .unwrap_or_else(|e| panic!("{name} sample {l:?}: {e}")) as u64
        })
        .sum()
}

/// Sends `n` requests at once (one thread each, released together); their answers.
pub fn in_parallel<F>(n: usize, f: F) -> Vec<Resp>
where
    F: Fn(usize) -> Resp + Sync,
{
    let barrier = std::sync::Barrier::new(n);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (f, barrier) = (&f, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    f(i)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("request thread"))
            .collect()
    })
}

/// Sends `request` as raw bytes on a new connection and returns everything the server
/// answered before closing (or the error that ended the exchange, prefixed `ERROR:`).
/// For requests no HTTP client would send: made-up methods, huge request lines.
pub fn raw_http(app: &TestApp, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let addr = app.base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .expect("timeout");
    if let Err(e) = s.write_all(request) {
        return format!("ERROR: {e}");
    }
    let mut out = Vec::new();
    match s.read_to_end(&mut out) {
        Ok(_) => String::from_utf8_lossy(&out).to_string(),
        Err(e) if out.is_empty() => format!("ERROR: {e}"),
        Err(_) => String::from_utf8_lossy(&out).to_string(),
    }
}
