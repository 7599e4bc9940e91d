//! Pre-made asset scoring: how well a tagged asset fits a request (CONTRACT.md, "Pre-made asset
//! scoring", the reference frontend's resolver).
//!
//! Identity beats role: a matching location, hero or enemy is worth 100, another character 50,
//! a required tag 20 and the wanted role only 10. A score of 0 is no match.
//!
//! ```
//! use bevy_asset_provider::prelude::*;
//! use bevy_asset_provider::source::scoring::{MatchCriteria, best_match};
//!
//! let criteria = MatchCriteria::from_request(&AssetRequest::image().location("harbor").tag("role:bg"));
//! let harbor = vec!["loc:harbor".to_string(), "role:bg".to_string()];
//! let cliffs = vec!["loc:cliffs".to_string(), "role:bg".to_string()];
//! let candidates = [("cliffs", cliffs.as_slice()), ("harbor", harbor.as_slice())];
//! assert_eq!(best_match(candidates, &criteria), Some(("harbor", 110)));
//! ```

use crate::request::AssetRequest;

/// Points for a matching location tag.
const LOCATION_POINTS: u32 = 100;
/// Points for a matching hero (main character) tag.
const HERO_POINTS: u32 = 100;
/// Points for each enemy character present.
const ENEMY_POINTS: u32 = 100;
/// Points for each other character present.
const OTHER_POINTS: u32 = 50;
/// Points for each required tag present.
const REQUIRED_POINTS: u32 = 20;
/// Points for the wanted role.
const ROLE_POINTS: u32 = 10;

/// The hero role tag; an asset tagged with the player's point of view also fills it.
const ROLE_HERO: &str = "role:char:hero";
/// The player's point-of-view role tag; a hero asset also fills it.
const ROLE_POV_PLAYER: &str = "role:pov:player";

/// What a pre-made asset is scored against. Every field holds full tags (`loc:park`,
/// `npc:anne`, `player`, `scene:intro`, `role:bg`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MatchCriteria {
    /// The location tag (`loc:<id>`), worth 100 when present.
    pub location: Option<String>,
    /// The hero (main character) tag (`npc:<id>` or `player`), worth 100 when present.
    pub hero: Option<String>,
    /// Enemy character tags, each worth 100 when present.
    pub enemies: Vec<String>,
    /// Other character tags, each worth 50 when present.
    pub others: Vec<String>,
    /// Tags the asset should carry (`scene:<id>`, `choice:<id>`, `cam:wide`, ...), each worth
    /// 20 when present.
    pub required_tags: Vec<String>,
    /// The role wanted (`role:bg`, `role:char:hero`, ...), worth 10 when present.
    pub wanted_role: Option<String>,
}

impl MatchCriteria {
    /// The criteria for `request`.
    ///
    /// - `location_id` becomes `loc:<id>`, unless it is already a full tag (has a `:`).
    /// - `character_id` becomes the hero: as it is when it is a full tag or `player`, else
    ///   `npc:<id>`.
    /// - The first tag starting with `role:` becomes the wanted role; later role tags are
    ///   ignored, since one asset plays one role. Every other tag is required.
    /// - The scene shown adds the required tag `scene:<id>`: `to_scene_id` for a transition
    ///   (the media shows where the player arrives), else `scene_id`. `choice_id` adds
    ///   `choice:<id>`.
    ///
    /// Required tags are kept in first-seen order without duplicates, so a tag given twice
    /// (for example `scene:intro` both as a tag and as the scene) counts once.
    pub fn from_request(request: &AssetRequest) -> Self {
        let location = request.location_id.as_deref().map(|id| {
            if id.contains(':') {
                id.to_owned()
            } else {
                format!("loc:{id}")
            }
        });
        let hero = request.character_id.as_deref().map(|id| {
            if id.contains(':') || id == "player" {
                id.to_owned()
            } else {
                format!("npc:{id}")
            }
        });

        let mut wanted_role = None;
        let mut required_tags = Vec::new();
        let mut require = |tag: String| {
            if !required_tags.contains(&tag) {
                required_tags.push(tag);
            }
        };
        for tag in &request.tags {
            if tag.starts_with("role:") {
                if wanted_role.is_none() {
                    wanted_role = Some(tag.clone());
                }
            } else {
                require(tag.clone());
            }
        }
        if let Some(scene) = request.to_scene_id.as_ref().or(request.scene_id.as_ref()) {
            require(format!("scene:{scene}"));
        }
        if let Some(choice) = &request.choice_id {
            require(format!("choice:{choice}"));
        }

        Self {
            location,
            hero,
            enemies: Vec::new(),
            others: Vec::new(),
            required_tags,
            wanted_role,
        }
    }
}

/// The lowest score that lets a pre-made file serve a request by context: a wanted role alone
/// (10) is not enough, so a generic background never stands in for a specific scene; at least
/// one identity (location, character) or required tag must match.
pub const MIN_CONTEXT_SCORE: u32 = 20;

/// How well an asset carrying `tags` fits `criteria`; 0 is no match.
///
/// Location +100, hero +100, each enemy present +100, each other character present +50, each
/// required tag present +20, the wanted role present +10. A wanted hero role
/// (`role:char:hero`) is also met by `role:pov:player`, and the other way round, since both show
/// the player's character. Duplicate tags on the asset count once.
pub(crate) fn score(tags: &[String], criteria: &MatchCriteria) -> u32 {
    let has = |tag: &str| tags.iter().any(|t| t == tag);
    let mut total = 0;
    if criteria.location.as_deref().is_some_and(has) {
        total += LOCATION_POINTS;
    }
    if criteria.hero.as_deref().is_some_and(has) {
        total += HERO_POINTS;
    }
    total += ENEMY_POINTS * count_present(&criteria.enemies, has);
    total += OTHER_POINTS * count_present(&criteria.others, has);
    total += REQUIRED_POINTS * count_present(&criteria.required_tags, has);
    if let Some(role) = criteria.wanted_role.as_deref() {
        let alternative = match role {
            ROLE_HERO => Some(ROLE_POV_PLAYER),
            ROLE_POV_PLAYER => Some(ROLE_HERO),
            _ => None,
        };
        if has(role) || alternative.is_some_and(has) {
            total += ROLE_POINTS;
        }
    }
    total
}

/// How many of `wanted` satisfy `has`; saturates rather than wrapping on absurd inputs.
fn count_present(wanted: &[String], has: impl Fn(&str) -> bool) -> u32 {
    let count = wanted.iter().filter(|tag| has(tag)).count();
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// The best-scoring candidate and its score, or `None` when every score is 0.
///
/// Each candidate is a value (an index, a reference, an id) and the tags it carries. On a tie
/// the earlier candidate wins, so a manifest's order decides between equally good assets.
pub fn best_match<'a, T>(
    candidates: impl IntoIterator<Item = (T, &'a [String])>,
    criteria: &MatchCriteria,
) -> Option<(T, u32)> {
    let mut best: Option<(T, u32)> = None;
    for (candidate, tags) in candidates {
        let points = score(tags, criteria);
        // Strictly greater: a later candidate never displaces an equal earlier one.
        if points > 0 && best.as_ref().is_none_or(|(_, top)| points > *top) {
            best = Some((candidate, points));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn from_request_maps_context_to_tags() {
        let request = AssetRequest::image()
            .location("park")
            .character("anne")
            .scene("romance_5")
            .choice("confess")
            .tags(["role:bg", "cam:wide", "role:char:npc", "cam:wide"]);
        let criteria = MatchCriteria::from_request(&request);
        assert_eq!(criteria.location.as_deref(), Some("loc:park"));
        assert_eq!(criteria.hero.as_deref(), Some("npc:anne"));
        assert_eq!(criteria.wanted_role.as_deref(), Some("role:bg"));
        assert_eq!(
            criteria.required_tags,
            tags(&["cam:wide", "scene:romance_5", "choice:confess"])
        );
        assert!(criteria.enemies.is_empty() && criteria.others.is_empty());
    }

    #[test]
    fn from_request_keeps_full_tags_and_player() {
        let full = MatchCriteria::from_request(
            &AssetRequest::image()
                .location("loc:park")
                .character("npc:anne"),
        );
        assert_eq!(full.location.as_deref(), Some("loc:park"));
        assert_eq!(full.hero.as_deref(), Some("npc:anne"));
        let player = MatchCriteria::from_request(&AssetRequest::image().character("player"));
        assert_eq!(player.hero.as_deref(), Some("player"));
        let empty = MatchCriteria::from_request(&AssetRequest::image());
        assert_eq!(empty, MatchCriteria::default());
    }

    #[test]
    fn location_scores_100() {
        let criteria = MatchCriteria {
            location: Some("loc:park".into()),
            ..Default::default()
        };
        assert_eq!(score(&tags(&["loc:park"]), &criteria), 100);
        assert_eq!(score(&tags(&["loc:harbor"]), &criteria), 0);
    }

    #[test]
    fn hero_scores_100() {
        let criteria = MatchCriteria {
            hero: Some("npc:anne".into()),
            ..Default::default()
        };
        assert_eq!(score(&tags(&["npc:anne", "npc:anne"]), &criteria), 100);
        assert_eq!(score(&tags(&["npc:bob"]), &criteria), 0);
    }

    #[test]
    fn enemies_score_100_each_and_others_50_each() {
        let criteria = MatchCriteria {
            enemies: tags(&["npc:wolf", "npc:bear"]),
            others: tags(&["npc:bob", "npc:cid"]),
            ..Default::default()
        };
        assert_eq!(score(&tags(&["npc:wolf", "npc:bear"]), &criteria), 200);
        assert_eq!(score(&tags(&["npc:wolf", "npc:bob"]), &criteria), 150);
        assert_eq!(score(&tags(&["npc:bob", "npc:cid"]), &criteria), 100);
    }

    #[test]
    fn required_tags_score_20_each() {
        let criteria = MatchCriteria {
            required_tags: tags(&["scene:intro", "cam:wide"]),
            ..Default::default()
        };
        assert_eq!(score(&tags(&["scene:intro"]), &criteria), 20);
        assert_eq!(score(&tags(&["cam:wide", "scene:intro"]), &criteria), 40);
    }

    #[test]
    fn wanted_role_scores_10_and_hero_means_pov() {
        let bg = MatchCriteria {
            wanted_role: Some("role:bg".into()),
            ..Default::default()
        };
        assert_eq!(score(&tags(&["role:bg"]), &bg), 10);
        assert_eq!(score(&tags(&["role:char:npc"]), &bg), 0);

        let hero = MatchCriteria {
            wanted_role: Some(ROLE_HERO.into()),
            ..Default::default()
        };
        assert_eq!(score(&tags(&[ROLE_POV_PLAYER]), &hero), 10);
        let pov = MatchCriteria {
            wanted_role: Some(ROLE_POV_PLAYER.into()),
            ..Default::default()
        };
        assert_eq!(score(&tags(&[ROLE_HERO]), &pov), 10);
        // Both present still count once.
        assert_eq!(score(&tags(&[ROLE_HERO, ROLE_POV_PLAYER]), &pov), 10);
    }

    #[test]
    fn rules_add_up() {
        let criteria = MatchCriteria::from_request(
            &AssetRequest::image()
                .location("park")
                .character("anne")
                .scene("s1")
                .tag("role:bg"),
        );
        let all = tags(&["loc:park", "npc:anne", "scene:s1", "role:bg"]);
        assert_eq!(score(&all, &criteria), 100 + 100 + 20 + 10);
    }

    #[test]
    fn a_transition_wants_the_scene_it_arrives_at() {
        let criteria = MatchCriteria::from_request(
            &AssetRequest::image()
                .scene("harbor")
                .choice("c")
                .to_scene("tavern"),
        );
        assert!(criteria.required_tags.contains(&"scene:tavern".to_owned()));
        assert!(!criteria.required_tags.contains(&"scene:harbor".to_owned()));
    }

    #[test]
    fn best_match_picks_highest() {
        let criteria =
            MatchCriteria::from_request(&AssetRequest::image().location("harbor").tag("role:bg"));
        let a = tags(&["role:bg"]);
        let b = tags(&["loc:harbor", "role:bg"]);
        let c = tags(&["loc:harbor"]);
        let found = best_match(
            [(0, a.as_slice()), (1, b.as_slice()), (2, c.as_slice())],
            &criteria,
        );
        assert_eq!(found, Some((1, 110)));
    }

    #[test]
    fn best_match_ties_keep_the_first() {
        let criteria = MatchCriteria {
            location: Some("loc:park".into()),
            ..Default::default()
        };
        let same = tags(&["loc:park"]);
        let found = best_match(
            [
                ("first", same.as_slice()),
                ("second", same.as_slice()),
                ("third", same.as_slice()),
            ],
            &criteria,
        );
        assert_eq!(found, Some(("first", 100)));
    }

    #[test]
    fn zero_scores_are_no_match() {
        let criteria = MatchCriteria {
            location: Some("loc:park".into()),
            ..Default::default()
        };
        let other = tags(&["loc:harbor", "role:bg"]);
        assert_eq!(best_match([(0, other.as_slice())], &criteria), None);
        let none: [(u8, &[String]); 0] = [];
        assert_eq!(best_match(none, &criteria), None);
        // Empty criteria match nothing, however rich the asset.
        assert_eq!(
            best_match([(0, other.as_slice())], &MatchCriteria::default()),
            None
        );
    }
}
