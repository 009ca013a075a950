//! Building blocks shared by the pages.

pub mod announce;
pub mod chart;
pub mod diff;
pub mod filter;
pub mod focus;
pub mod form;
pub mod island;
pub mod layout;
pub mod live;
pub mod page;
pub mod theme;
