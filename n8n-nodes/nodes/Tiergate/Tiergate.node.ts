import { NodeConnectionTypes, type INodeType, type INodeTypeDescription } from 'n8n-workflow';
import { jobDescription } from './resources/job';
import { reviewDescription } from './resources/review';
import { taskDescription } from './resources/task';
import { classifyItems } from './resources/task/classify';
import { resumeOnDecision, runAndWaitForReview } from './resources/task/runAndWaitForReview';
import { getTaskTypes } from './methods/loadOptions';

/**
 * The node's outputs, computed in the editor from its parameters: Classify with "One Output per
 * Label" gets one output per label and an "Other / Needs Review" output, like n8n's Text Classifier.
 * Stringified into an expression, so it must stay plain JavaScript without outside references.
 */
const configuredOutputs = (parameters: {
	operation?: string;
	outputPerLabel?: boolean;
	labelList?: { labels?: Array<{ name?: string }> };
}) => {
	if (parameters.operation !== 'classify' || !parameters.outputPerLabel) return ['main'];
	const labels = (parameters.labelList && parameters.labelList.labels) || [];
	return labels
		.map((label) => ({ type: 'main', displayName: label.name || '(unnamed)' }))
		.concat([{ type: 'main', displayName: 'Other / Needs Review' }]);
};


// The only webhook is a restart webhook (like n8n's Wait node): it exists while an execution waits
// for a review decision, so there is nothing to register on Tiergate's side.
// eslint-disable-next-line @n8n/community-nodes/webhook-lifecycle-complete
export class Tiergate implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Tiergate',
		// Published name: never rename it, or saved workflows lose the node.
		name: 'tiergate',
		icon: { light: 'file:../../icons/tiergate.svg', dark: 'file:../../icons/tiergate.dark.svg' },
		group: ['transform'],
		// 1.1: labels as a list, one output per label. Version 1 keeps comma-separated labels.
		version: [1, 1.1],
		defaultVersion: 1.1,
		// What the canvas shows under the node, like n8n's own: "Classify · 3 labels".
		subtitle:
			'={{ ({ classify: "Classify", route: "Route", runWithFallback: "Run with fallback", runAndWaitForReview: "Run and wait for review", get: "Get job", getPending: "Get pending reviews", decide: "Decide review" })[$parameter["operation"]] + ($parameter["operation"] === "classify" ? " · " + ($parameter["labelList"] ? ($parameter["labelList"].labels || []).length : String($parameter["labels"] || "").split(",").filter(l => l.trim()).length) + " labels" : ($parameter["taskType"] ? " · " + $parameter["taskType"] : "")) }}',
		description:
			'Send LLM tasks to the cheapest model tier that does them well, with checks, escalation and human review',
		defaults: {
			name: 'Tiergate',
		},
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		// Run and Wait for Review parks the execution; Tiergate's review.decided callback to
		// $execution.resumeUrl resumes it here, as with n8n's Wait node.
		webhooks: [
			{
				name: 'default',
				httpMethod: 'POST',
				responseMode: 'onReceived',
				path: '',
				restartWebhook: true,
			},
		],
		outputs: `={{(${configuredOutputs})($parameter)}}`,
		credentials: [
			{
				name: 'tiergateApi',
				required: true,
			},
		],
		requestDefaults: {
			baseURL: '={{$credentials.baseUrl.replace(/\\/+$/, "")}}',
			headers: {
				Accept: 'application/json',
				'Content-Type': 'application/json',
			},
		},
		properties: [
			{
				displayName: 'Resource',
				name: 'resource',
				type: 'options',
				noDataExpression: true,
				options: [
					{
						name: 'Task',
						value: 'task',
					},
					{
						name: 'Job',
						value: 'job',
					},
					{
						name: 'Review',
						value: 'review',
					},
				],
				default: 'task',
			},
			...taskDescription,
			...jobDescription,
			...reviewDescription,
		],
	};

	methods = {
		loadOptions: { getTaskTypes },
	};

	customOperations = {
		task: {
			classify: classifyItems,
			runAndWaitForReview,
		},
	};

	webhook = resumeOnDecision;
}
