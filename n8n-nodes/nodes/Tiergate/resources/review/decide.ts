import type { INodeProperties } from 'n8n-workflow';
import { OMIT_IF_EMPTY } from '../../shared/descriptions';

const showOnlyForDecide = {
	resource: ['review'],
	operation: ['decide'],
};

export const reviewDecideDescription: INodeProperties[] = [
	{
		displayName: 'Review ID',
		name: 'reviewId',
		type: 'string',
		default: '',
		required: true,
		displayOptions: { show: showOnlyForDecide },
		description: 'The review_id of the held item',
	},
	{
		displayName: 'Decision',
		name: 'decision',
		type: 'options',
		options: [
			{ name: 'Approve', value: 'approve', description: 'Release the draft, or the edited text' },
			{ name: 'Reject', value: 'reject', description: 'Drop the draft' },
			{ name: 'Re-Run', value: 'rerun', description: 'Run it again on a stronger tier' },
		],
		default: 'approve',
		displayOptions: { show: showOnlyForDecide },
		routing: { send: { type: 'body', property: 'action' } },
	},
	{
		displayName: 'Options',
		name: 'decisionOptions',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		displayOptions: { show: showOnlyForDecide },
		options: [
			{
				displayName: 'Edited Text',
				name: 'text',
				type: 'string',
				typeOptions: { rows: 4 },
				default: '',
				description: 'The final text, when the reviewer changed the draft',
				routing: { send: { type: 'body', property: 'text', value: OMIT_IF_EMPTY } },
			},
			{
				displayName: 'Minutes Spent',
				name: 'minutesSpent',
				type: 'number',
				typeOptions: { minValue: 0 },
				default: 0,
				description: 'How long the review or correction took, for the quality report',
				routing: { send: { type: 'body', property: 'minutes_spent' } },
			},
			{
				displayName: 'Note',
				name: 'note',
				type: 'string',
				default: '',
				description: 'Why the reviewer decided this way',
				routing: { send: { type: 'body', property: 'note', value: OMIT_IF_EMPTY } },
			},
		],
	},
];
