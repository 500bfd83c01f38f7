//! The `SessionManager`'s handlers of a conversation's settings (`GetSettings`, `SetModel`, `SetRole`) and of
//! what the model requests used (`RecordSpend`, `GetUserSpending`, `GetTopUsers`). Split from
//! `session_manager.rs` (whose child module this is, and whose module doc holds for this code too) only to
//! keep that file short.

use super::{
    new_chat, ConversationSettings, GetSettings, GetTopUsers, GetUsageReport, GetUserSpending,
    RecordSpend, SessionError, SessionManager, SetModel, SetRole,
};
use crate::db::queries;
use crate::db::spending::{self, Totals, UsageReport, UserSpending};
use crate::ids::UserId;
use crate::text::now_unix;
use actix::prelude::*;
use std::collections::BTreeMap;

impl Handler<RecordSpend> for SessionManager {
    type Result = Result<(), SessionError>;

    fn handle(&mut self, msg: RecordSpend, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.write(ctx, "RecordSpend", |conn| spending::record(conn, &msg.0))
    }
}

impl Handler<GetUserSpending> for SessionManager {
    type Result = Result<UserSpending, SessionError>;

    fn handle(&mut self, msg: GetUserSpending, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.read(ctx, "GetUserSpending", |conn| {
            let p = &msg.periods;
            spending::user_spending(conn, msg.user, &p.day, &p.month_start)
        })
    }
}

impl Handler<GetTopUsers> for SessionManager {
    type Result = Result<Vec<(UserId, BTreeMap<String, Totals>)>, SessionError>;

    fn handle(&mut self, msg: GetTopUsers, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.read(ctx, "GetTopUsers", |conn| {
            spending::top_users(conn, &msg.from_day, msg.limit)
        })
    }
}

impl Handler<GetSettings> for SessionManager {
    type Result = Result<ConversationSettings, SessionError>;

    fn handle(&mut self, msg: GetSettings, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.read(ctx, "GetSettings", |conn| {
            queries::settings(conn, msg.conversation)
        })
    }
}

impl Handler<SetModel> for SessionManager {
    type Result = Result<(), SessionError>;

    fn handle(&mut self, msg: SetModel, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.write(ctx, "SetModel", |conn| {
            queries::upsert_chat(conn, &new_chat(&msg.chat, now_unix()))?;
            queries::set_model(conn, msg.chat.conversation(), msg.model.as_deref())
        })
    }
}

impl Handler<SetRole> for SessionManager {
    type Result = Result<(), SessionError>;

    fn handle(&mut self, msg: SetRole, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.write(ctx, "SetRole", |conn| {
            queries::upsert_chat(conn, &new_chat(&msg.chat, now_unix()))?;
            let conversation = msg.chat.conversation();
            let role = msg.role.as_ref().map(|(n, p)| (n.as_str(), p.as_str()));
            queries::set_role(conn, conversation, role)?;
            match &msg.model {
                Some(model) => queries::set_model(conn, conversation, Some(model)),
                None => Ok(()),
            }
        })
    }
}

impl Handler<GetUsageReport> for SessionManager {
    type Result = Result<UsageReport, SessionError>;

    fn handle(&mut self, msg: GetUsageReport, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.read(ctx, "GetUsageReport", |conn| {
            spending::usage_report(conn, &msg.0)
        })
    }
}
