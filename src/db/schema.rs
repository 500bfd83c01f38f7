// @generated automatically by Diesel CLI.

diesel::table! {
    chats (id) {
        id -> BigInt,
        kind -> Text,
        title -> Nullable<Text>,
        system_prompt -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        blocked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    messages (id) {
        id -> Integer,
        chat_id -> BigInt,
        role -> Text,
        content -> Text,
        tokens -> Integer,
        telegram_message_id -> Nullable<BigInt>,
        created_at -> BigInt,
        folded -> Bool,
    }
}

diesel::table! {
    summaries (id) {
        id -> Integer,
        chat_id -> BigInt,
        content -> Text,
        tokens -> Integer,
        first_message_id -> Integer,
        last_message_id -> Integer,
        created_at -> BigInt,
    }
}

diesel::table! {
    usage (chat_id) {
        chat_id -> BigInt,
        prompt_tokens -> BigInt,
        completion_tokens -> BigInt,
        requests -> BigInt,
    }
}

diesel::joinable!(messages -> chats (chat_id));
diesel::joinable!(summaries -> chats (chat_id));
diesel::joinable!(usage -> chats (chat_id));

diesel::allow_tables_to_appear_in_same_query!(chats, messages, summaries, usage,);
