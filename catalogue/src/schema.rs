//! The index's fields, its analyser, and how a video becomes a document.

use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, FAST,
    INDEXED, STORED, STRING,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
};
use tantivy::{Index, TantivyDocument};
use troupe_actors::events::{Counts, VideoStatus, VideoView, Visibility};
use uuid::Uuid;

/// The analyser's name: words split on anything but letters and digits, lower-cased, folded
/// to ASCII (`café` is `cafe`), words over 40 bytes dropped.
pub const ANALYSER: &str = "troupe_words";

/// Bumped whenever the fields change: an index written under another version is rebuilt.
pub const SCHEMA_VERSION: u32 = 6;

/// The index's fields.
#[derive(Clone)]
pub struct Fields {
    pub(crate) schema: Schema,
    /// Video id (raw, stored): the key for updates.
    pub id: Field,
    /// The id's high 64 bits, a fast column: results read their id without a dictionary.
    pub id_hi: Field,
    /// The id's low 64 bits.
    pub id_lo: Field,
    /// Title words (BM25, boosted at query time); stored for the index's own use.
    pub title: Field,
    /// Description words.
    pub description: Field,
    /// Tag words (searchable).
    pub tag_words: Field,
    /// Tags as given (raw, lower-case): the tag filter.
    pub tag: Field,
    /// The owner's name as words (searchable).
    pub owner_words: Field,
    /// The owner's name (raw): the owner filter.
    pub owner: Field,
    /// The owner's id (raw): a viewer's own videos.
    pub owner_id: Field,
    /// The owner's id as two u64 fast columns: a ranked search checks "the caller's own"
    /// from them while it collects.
    pub owner_hi: Field,
    /// The owner id's low 64 bits.
    pub owner_lo: Field,
    /// The channel's id (raw): a channel's videos, and the subscription feed (its videos of
    /// every followed channel).
    pub channel: Field,
    /// 1 when anyone may list it (public and ready), else 0.
    pub listed: Field,
    /// 1 for a live video, 0 for a deletion marker.
    pub alive: Field,
    /// The state, as the API spells it (raw): the admin's state filter.
    pub state: Field,
    /// Duration in milliseconds (absent until known).
    pub duration_ms: Field,
    /// Creation time, Unix ms.
    pub created_ms: Field,
    /// The newest-first order key: creation ms × 2^16 + 16 bits of the id; unique enough and
    /// stable, so it is also the cursor of newest-first pages.
    pub order: Field,
    /// Views, as the counter last said.
    pub views: Field,
    /// Likes, as the counter last said.
    pub likes: Field,
    /// The video's version: older changes never overwrite newer ones.
    pub version: Field,
    /// The whole video as JSON (stored), so a count change can rewrite the document.
    pub doc: Field,
}

impl Fields {
    /// The schema of this version.
    pub fn new() -> Self {
        let mut b = Schema::builder();
        let words = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ANALYSER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        let number = NumericOptions::default() | INDEXED | FAST;
        let id = b.add_text_field("id", STRING | STORED);
        let id_hi = b.add_u64_field("id_hi", FAST);
        let id_lo = b.add_u64_field("id_lo", FAST);
        let title = b.add_text_field("title", words.clone());
        let description = b.add_text_field("description", words.clone());
        let tag_words = b.add_text_field("tag_words", words.clone());
        let tag = b.add_text_field("tag", STRING);
        let owner_words = b.add_text_field("owner_words", words);
        let owner = b.add_text_field("owner", STRING);
        let owner_id = b.add_text_field("owner_id", STRING);
        let owner_hi = b.add_u64_field("owner_hi", FAST);
        let owner_lo = b.add_u64_field("owner_lo", FAST);
        let channel = b.add_text_field("channel", STRING);
        let listed = b.add_u64_field("listed", number.clone());
        let alive = b.add_u64_field("alive", number.clone());
        let state = b.add_text_field("state", STRING);
        let duration_ms = b.add_u64_field("duration_ms", number.clone());
        let created_ms = b.add_u64_field("created_ms", number.clone());
        let order = b.add_u64_field("order", number.clone());
        let views = b.add_u64_field("views", FAST);
        let likes = b.add_u64_field("likes", FAST);
        let version = b.add_u64_field("version", FAST);
        let doc = b.add_bytes_field("doc", STORED);
        Self {
            schema: b.build(),
            id,
            id_hi,
            id_lo,
            title,
            description,
            tag_words,
            tag,
            owner_words,
            owner,
            owner_id,
            owner_hi,
            owner_lo,
            channel,
            listed,
            alive,
            state,
            duration_ms,
            created_ms,
            order,
            views,
            likes,
            version,
            doc,
        }
    }

    /// The document of a live video with its counts.
    pub fn document(&self, v: &VideoView, counts: Counts) -> TantivyDocument {
        let mut d = TantivyDocument::default();
        d.add_text(self.id, v.id.to_string());
        let (hi, lo) = v.id.as_u64_pair();
        d.add_u64(self.id_hi, hi);
        d.add_u64(self.id_lo, lo);
        d.add_text(self.title, &v.title);
        d.add_text(self.description, &v.description);
        for t in &v.tags {
            d.add_text(self.tag_words, t);
            d.add_text(self.tag, t.to_lowercase());
        }
        d.add_text(self.owner_words, &v.owner);
        d.add_text(self.owner, v.owner.to_lowercase());
        d.add_text(self.owner_id, v.owner_id.to_string());
        let (hi, lo) = v.owner_id.as_u64_pair();
        d.add_u64(self.owner_hi, hi);
        d.add_u64(self.owner_lo, lo);
        d.add_text(self.channel, v.channel_id.to_string());
        d.add_u64(self.listed, u64::from(listed(v)));
        d.add_u64(self.alive, 1);
        d.add_text(self.state, state_name(v.state));
        // No duration until processed: a duration filter never matches such a video.
        if let Some(secs) = v.duration_secs.filter(|s| s.is_finite()) {
            d.add_u64(self.duration_ms, (secs.max(0.0) * 1000.0) as u64);
        }
        let created = v.created_at.timestamp_millis().max(0) as u64;
        d.add_u64(self.created_ms, created);
        d.add_u64(self.order, order_key(created, v.id));
        d.add_u64(self.views, counts.views);
        d.add_u64(self.likes, counts.likes);
        d.add_u64(self.version, v.version);
        d.add_bytes(
            self.doc,
            serde_json::to_vec(v).unwrap_or_default().as_slice(),
        );
        d
    }

    /// The marker a deleted video leaves, so that no late change brings it back.
    pub fn tombstone(&self, id: Uuid) -> TantivyDocument {
        let mut d = TantivyDocument::default();
        d.add_text(self.id, id.to_string());
        let (hi, lo) = id.as_u64_pair();
        d.add_u64(self.id_hi, hi);
        d.add_u64(self.id_lo, lo);
        d.add_u64(self.listed, 0);
        d.add_u64(self.alive, 0);
        d.add_u64(self.version, u64::MAX);
        d
    }
}

impl Default for Fields {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether anyone may list the video (a hidden one only its owner and admins).
pub fn listed(v: &VideoView) -> bool {
    v.visibility == Visibility::Public && v.state == VideoStatus::Ready && v.hidden.is_none()
}

/// The newest-first order key of a video created at `created_ms`.
pub fn order_key(created_ms: u64, id: Uuid) -> u64 {
    let low = u16::from_be_bytes([id.as_bytes()[14], id.as_bytes()[15]]);
    (created_ms << 16) | u64::from(low)
}

/// The API's name of a state.
pub fn state_name(s: VideoStatus) -> &'static str {
    match s {
        VideoStatus::AwaitingUpload => "awaiting_upload",
        VideoStatus::Uploading => "uploading",
        VideoStatus::Queued => "queued",
        VideoStatus::Processing => "processing",
        VideoStatus::Ready => "ready",
        VideoStatus::Failed => "failed",
    }
}

/// The analyser every text field and every query uses.
pub fn analyser() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// Registers the analyser on an index.
pub fn register(index: &Index) {
    index.tokenizers().register(ANALYSER, analyser());
}

/// The words of `text` as the index sees them.
pub fn words(text: &str) -> Vec<String> {
    let mut a = analyser();
    let mut stream = a.token_stream(text);
    let mut out = Vec::new();
    while let Some(t) = stream.next() {
        out.push(t.text.clone());
    }
    out
}
