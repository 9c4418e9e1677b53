export const greet = (greeting) => `${greeting ?? "Hello"} from a Bosun worker`;
