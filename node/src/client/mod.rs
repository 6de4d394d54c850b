//! The client role's chain side: buying a deal ([`deal`]), reading it back from any machine
//! ([`report`]), and settling what it left unfinished after its deadline ([`refund`]).

pub mod deal;
pub mod refund;
pub mod report;
pub mod submit;
