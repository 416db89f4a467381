//! Who is calling: the caller's origin and its place in the frame tree, both taken
//! from the browser (BiDi realm and browsing-context information), never from
//! anything the page says.
use super::bidi::{Bidi, path_to};
use super::error::BrowserError;
use crate::ceremony::webauthn::{FrameContext, Origin, WebAuthnError};

/// The calling document as the browser sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Origin of the calling realm.
    pub origin: Origin,
    /// Top-level, same-origin frame or cross-origin frame.
    pub frame: FrameContext,
    /// The top-level browsing context (tab or popup) the caller lives in.
    pub top_level_context: String,
}

/// Resolve `realm` in `context`. Fails with a WebAuthn error the page can be given
/// when the caller is not a main-world window realm of `user_context`.
pub async fn resolve(bidi: &Bidi, context: &str, realm: &str, user_context: &str) -> Result<Caller, WebAuthnError> {
    let internal = |e: BrowserError| WebAuthnError::Internal(e.to_string());
    let origin = window_origin(bidi, context, Some(realm)).await.map_err(internal)?;
    let tree = bidi.tree().await.map_err(internal)?;
    let path = path_to(&tree, context).ok_or_else(|| WebAuthnError::Internal("the calling frame is gone".into()))?;
    let top = &path[0];
    if top.user_context.as_deref() != Some(user_context) {
        return Err(WebAuthnError::Internal("the calling frame belongs to another enrolment".into()));
    }
    let origin = Origin::parse(&origin).map_err(WebAuthnError::Internal)?;
    if path.len() == 1 {
        return Ok(Caller { origin, frame: FrameContext::TopLevel, top_level_context: top.context.clone() });
    }
    let mut same_origin = true;
    let mut top_origin = None;
    for ancestor in &path[..path.len() - 1] {
        let o = window_origin(bidi, &ancestor.context, None).await.map_err(internal)?;
        let o = Origin::parse(&o).map_err(WebAuthnError::Internal)?;
        same_origin &= o == origin && o != Origin::Opaque;
        if top_origin.is_none() {
            top_origin = Some(o);
        }
    }
    let frame = match (same_origin, top_origin) {
        (true, _) => FrameContext::SameOriginFrame,
        (false, Some(top_origin)) => FrameContext::CrossOriginFrame { top_origin },
        (false, None) => FrameContext::TopLevel,
    };
    Ok(Caller { origin, frame, top_level_context: top.context.clone() })
}

/// The origin of a context's main-world window realm (or of one specific realm).
async fn window_origin(bidi: &Bidi, context: &str, realm: Option<&str>) -> Result<String, BrowserError> {
    let realms = bidi.realms(context).await?;
    realms
        .into_iter()
        .find(|r| r.kind == "window" && r.sandbox.is_none() && realm.is_none_or(|id| r.realm == id))
        .map(|r| r.origin)
        .ok_or_else(|| BrowserError::Protocol(format!("no main-world window realm in context {context}")))
}
